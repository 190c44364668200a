#pragma once

// What this rank is blocked on, for the progress watchdog (dist/watchdog.hpp): every wait on
// other ranks (a collective, a transfer, a rendezvous) is wrapped in a WaitScope naming the
// operation and the peers. Only the main thread sets it; the watchdog thread reads it.
#include <string>

#include "llmpi/core/time_ledger.hpp"

namespace llmpi {

class WaitScope {
 public:
  // `operation` and `peers` must outlive the scope (string literals, a communicator's own
  // description). `allowance_s` adds to the stall limit for waits that legitimately last
  // longer than a step (waiting for the slowest replica's whole round).
  WaitScope(const char* operation, const std::string& peers, double allowance_s = 0) noexcept;
  ~WaitScope();
  WaitScope(const WaitScope&) = delete;
  WaitScope& operator=(const WaitScope&) = delete;

 private:
  PhaseScope waiting_{Phase::waiting};  // its time is the rank's time spent waiting
  const char* previous_operation_;
  const std::string* previous_peers_;
  long long previous_since_ns_;
  double previous_allowance_s_;
};

struct CurrentWait {
  const char* operation = nullptr;  // null: not waiting on other ranks
  const std::string* peers = nullptr;
  double seconds = 0;      // how long so far
  double allowance_s = 0;  // extra time this wait may take
};

CurrentWait current_wait() noexcept;

}  // namespace llmpi
