// Stop requests: SIGUSR1 (SLURM's pre-emption warning) and SIGTERM set a flag; the training loop
// polls it at step boundaries, checkpoints and exits with kExitRequeue (docs/errors.md).
//
// A signal handler can only reach process-wide state, so the flag is the one global of agreid;
// it is written only by the handler and read through StopToken.
#pragma once

#include <csignal>

namespace agreid::launch {

// Installs the SIGUSR1/SIGTERM handlers. Call once from main().
void installStopHandlers();

// True once SIGUSR1 or SIGTERM arrived. Async-signal-safe to set; cheap to poll.
bool stopRequested();

// The signal number that requested the stop (0 if none).
int stopSignal();

}  // namespace agreid::launch
