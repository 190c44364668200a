#include "llmpi/core/time_ledger.hpp"

#include <atomic>
#include <chrono>

namespace llmpi {

namespace {

std::atomic<int> current{static_cast<int>(Phase::other)};
std::atomic<long long> since_ns{0};
std::array<std::atomic<double>, kPhases> totals{};

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Books the running phase's time so far and makes `next` the running one; returns the one that
// was running.
Phase switch_to(Phase next) noexcept {
  const long long now = now_ns();
  const long long start = since_ns.exchange(now, std::memory_order_relaxed);
  const int previous = current.exchange(static_cast<int>(next), std::memory_order_relaxed);
  if (start != 0) {
    auto& total = totals[static_cast<std::size_t>(previous)];
    total.store(total.load(std::memory_order_relaxed) + static_cast<double>(now - start) / 1e9,
                std::memory_order_relaxed);
  }
  return static_cast<Phase>(previous);
}

}  // namespace

std::string phase_name(Phase phase) {
  static const char* const kNames[kPhases] = {"other",    "loading", "prefill", "decode",
                                              "sampling", "scoring", "writing", "waiting"};
  return kNames[static_cast<int>(phase)];
}

PhaseScope::PhaseScope(Phase phase) noexcept : previous_(switch_to(phase)) {}

PhaseScope::~PhaseScope() {
  switch_to(previous_);
}

std::array<double, kPhases> time_ledger() noexcept {
  std::array<double, kPhases> seconds{};
  for (int i = 0; i < kPhases; ++i) {
    seconds[static_cast<std::size_t>(i)] =
        totals[static_cast<std::size_t>(i)].load(std::memory_order_relaxed);
  }
  // The running phase, up to now (racy by a few nanoseconds against a switch: harmless).
  const long long start = since_ns.load(std::memory_order_relaxed);
  if (start != 0) {
    seconds[static_cast<std::size_t>(current.load(std::memory_order_relaxed))] +=
        static_cast<double>(now_ns() - start) / 1e9;
  }
  return seconds;
}

}  // namespace llmpi
