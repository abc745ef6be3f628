#include "launch/signals.h"

#include <pthread.h>

#include <string>

#include "base/error.h"

namespace agreid::launch {
namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_accepting = 0;  // the command polls the flag

// A command that never polls the flag (inspect, config, report, ...) must still die of the
// signal: the handler then restores the default action and raises it again.
extern "C" void onStopSignal(int sig) {
  if (g_accepting == 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
}

void install(int sig) {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(sig, &sa, nullptr);
}
}  // namespace

void installStopHandlers() {
  install(SIGUSR1);
  install(SIGTERM);
}

void acceptStopRequests() { g_accepting = 1; }

void installInterruptHandler() {
  acceptStopRequests();
  install(SIGINT);
  // A launcher may start us with these signals blocked (the mask is inherited across exec):
  // unblock them so that a stop request is seen; one already pending is delivered now.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void throwIfInterrupted(const char* command) {
  const int sig = g_stop_signal;
  if (sig != SIGTERM && sig != SIGINT) return;
  throw StopRequested(sig, std::string("agreid ") + command + ": stopped by " +
                               (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                               "; partial outputs removed");
}

bool stopRequested() { return g_stop_signal != 0; }
int stopSignal() { return g_stop_signal; }

}  // namespace agreid::launch
