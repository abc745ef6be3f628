// Stop requests: SIGUSR1 (SLURM's pre-emption warning) and SIGTERM set a flag; the training loop
// polls it at step boundaries, checkpoints and exits with kExitRequeue (docs/errors.md).
//
// A signal handler can only reach process-wide state, so the flag is the one global of agreid;
// it is written only by the handler and read through StopToken.
#pragma once

#include <csignal>

namespace agreid::launch {

// Installs the SIGUSR1/SIGTERM handlers. Call once from main(). Until the command calls
// acceptStopRequests(), these signals keep their default action (the process ends).
void installStopHandlers();

// The command polls stopRequested() or throwIfInterrupted() from now on: SIGUSR1/SIGTERM (and
// SIGINT after installInterruptHandler) set the flag instead of ending the process. Training
// jobs (launch::Job), `sweep --local` and the commands below call it.
void acceptStopRequests();

// Also turns SIGINT (Ctrl-C) into a stop request instead of killing the process at once, and
// unblocks SIGINT/SIGTERM when the launcher started us with them blocked. For the commands
// without checkpoints (import, synth, extract, eval), which poll throwIfInterrupted().
void installInterruptHandler();

// Throws StopRequested (base/error.h) once SIGTERM or SIGINT arrived; `command` names the command
// in the message. SIGUSR1 alone (a pre-emption warning) does not stop these commands.
void throwIfInterrupted(const char* command);

// True once SIGUSR1 or SIGTERM arrived. Async-signal-safe to set; cheap to poll.
bool stopRequested();

// The signal number that requested the stop (0 if none).
int stopSignal();

}  // namespace agreid::launch
