#include "llmpi/core/wait_watch.hpp"

#include <atomic>
#include <chrono>

namespace llmpi {

namespace {

std::atomic<const char*> operation{nullptr};
std::atomic<const std::string*> peers{nullptr};
std::atomic<long long> since_ns{0};
std::atomic<double> allowance{0};

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

WaitScope::WaitScope(const char* op, const std::string& who, double allowance_s) noexcept
    : previous_operation_(operation.load(std::memory_order_relaxed)),
      previous_peers_(peers.load(std::memory_order_relaxed)),
      previous_since_ns_(since_ns.load(std::memory_order_relaxed)),
      previous_allowance_s_(allowance.load(std::memory_order_relaxed)) {
  // The clock first, so a reader never pairs a new operation with an old start.
  since_ns.store(now_ns(), std::memory_order_relaxed);
  allowance.store(allowance_s, std::memory_order_relaxed);
  peers.store(&who, std::memory_order_relaxed);
  operation.store(op, std::memory_order_release);
}

WaitScope::~WaitScope() {
  operation.store(previous_operation_, std::memory_order_release);
  peers.store(previous_peers_, std::memory_order_relaxed);
  allowance.store(previous_allowance_s_, std::memory_order_relaxed);
  // An enclosing wait restarts its clock: the inner one completed, which is progress.
  since_ns.store(previous_operation_ != nullptr ? now_ns() : previous_since_ns_,
                 std::memory_order_relaxed);
}

CurrentWait current_wait() noexcept {
  CurrentWait wait;
  wait.operation = operation.load(std::memory_order_acquire);
  if (wait.operation == nullptr) return wait;
  wait.peers = peers.load(std::memory_order_relaxed);
  wait.allowance_s = allowance.load(std::memory_order_relaxed);
  wait.seconds = static_cast<double>(now_ns() - since_ns.load(std::memory_order_relaxed)) / 1e9;
  return wait;
}

}  // namespace llmpi
