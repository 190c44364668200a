#include "llmpi/core/stop_request.hpp"

#include <signal.h>

#include <atomic>
#include <cstring>

namespace llmpi {

namespace {

std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

void on_stop_signal(int signal) {
  int none = 0;
  if (!requested.compare_exchange_strong(none, signal) && (signal == SIGINT || signal == SIGTERM)) {
    // Asked twice: stop now.
    ::signal(signal, SIG_DFL);
    ::raise(signal);
  }
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int signal : {SIGTERM, SIGUSR1, SIGINT}) sigaction(signal, &action, nullptr);
}

int stop_signal() noexcept {
  return requested.load(std::memory_order_relaxed);
}

void request_stop(int signal) noexcept {
  int none = 0;
  requested.compare_exchange_strong(none, signal);
}

std::string signal_name(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  return abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

}  // namespace llmpi
