// Helpers shared by the test binaries: running the agreid executable, temporary folders, and
// locating optional inputs (the shared CLIP vocabulary, Debian's python3 with torch).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "base/error.h"

namespace agreid::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh, capturing stdout and stderr separately.
CommandResult runShell(const std::string& command);

// Runs the agreid binary with `args` (each shell-quoted).
CommandResult runAgreid(const std::vector<std::string>& args, const std::string& env = "");

// Runs the agreid binary with `sig` already pending: the child blocks the signal, sends it to
// itself and execs agreid (a blocked, pending signal survives exec), which receives it as soon as
// it installs its handler and unblocks it -- a stop at a known point, before any work is done.
// (A shell cannot do this: dash clears the signal mask.) exit_code is -signal when killed.
CommandResult runAgreidWithPendingSignal(const std::vector<std::string>& args, int sig);

std::string shellQuote(const std::string& s);

// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void writeFile(const std::string& path, const std::string& content);
std::string readFile(const std::string& path);

// Number of non-empty lines of `s`.
int lineCount(const std::string& s);

// Path of <shared>/clip/bpe_simple_vocab_16e6.txt.gz, or "" when absent; <shared> is
// $AGREID_SHARED_DIR when set, else ../shared beside the source tree.
std::string clipVocabPath();

// The message of the InputError `f` throws; adds a test failure when it throws none or a
// multi-line one.
std::string inputErrorOf(const std::function<void()>& f);

// Runs Debian's python3 on `script` (a path relative to the source tree) with `args`.
CommandResult runPythonScript(const std::string& script, const std::vector<std::string>& args);

// True when Debian's python3 can import torch (for reference checks).
bool havePythonTorch();

// Reads each file with Python's json module as strict JSON (tests/support/check_json.py: .jsonl
// line by line; NaN, Infinity and repeated keys refused) and adds a test failure naming the file
// and the reason for each that does not parse -- or when python3 cannot run: never a skip.
// Returns the number of documents read.
int expectPythonReadsJson(const std::vector<std::string>& files);

}  // namespace agreid::testing
