#include "launch/signals.h"

namespace agreid::launch {
namespace {
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void onStopSignal(int sig) { g_stop_signal = sig; }
}  // namespace

void installStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stopRequested() { return g_stop_signal != 0; }
int stopSignal() { return g_stop_signal; }

}  // namespace agreid::launch
