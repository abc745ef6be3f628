// Error types shared by every agreid library (docs/errors.md).
//
// Tier (a) expected failures -- bad configuration, missing or corrupt files, wrong shapes -- throw
// `InputError`; the message is one line naming the file, key or sample and what was expected.
// Tier (b) broken invariants (bugs) throw `InternalError` through AGREID_CHECK (base/check.h).
// Tier (c) communication and device failures throw `CommError` (comm/comm_error.h); the top level
// aborts every rank.
//
// Library code never calls exit(); `launch/main.cc` maps each type to its exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace agreid {

// Process exit codes, documented in docs/errors.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,      // a bug: an AGREID_CHECK failed or an unexpected exception escaped
  kExitInput = 2,         // bad input: configuration, command line, files
  kExitComm = 3,          // communication or device failure; the whole job was aborted
  kExitRequeue = 75,      // stopped on request (SIGUSR1/SIGTERM) after a checkpoint; requeue me
  kExitSignalBase = 128,  // + the signal: a command without checkpoints stopped by SIGINT/SIGTERM
};

// An expected failure caused by the user's input (tier a).
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

// A command without checkpoints (import, synth, extract, eval) was asked to stop by SIGINT or
// SIGTERM; its partial outputs are removed while this unwinds. main() exits with 128 + signal.
class StopRequested : public std::runtime_error {
 public:
  explicit StopRequested(int signal, const std::string& what)
      : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// A broken invariant (tier b). Thrown by AGREID_CHECK.
class InternalError : public std::logic_error {
 public:
  explicit InternalError(const std::string& what) : std::logic_error(what) {}
};

}  // namespace agreid
