#pragma once

// Where this rank's time goes: the code marks its phases with PhaseScope (and every wait on
// other ranks is a WaitScope, core/wait_watch.hpp, which counts as `waiting`); the innermost
// phase active on the main thread accrues the time. The telemetry sampler reads the totals from
// its own thread.
#include <array>
#include <string>

namespace llmpi {

enum class Phase : int { other, loading, prefill, decode, sampling, scoring, writing, waiting };
inline constexpr int kPhases = 8;

// "loading", "prefill", ...
std::string phase_name(Phase phase);

class PhaseScope {
 public:
  explicit PhaseScope(Phase phase) noexcept;
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  Phase previous_;
};

// Seconds per phase since the process started, the running phase's time included.
std::array<double, kPhases> time_ledger() noexcept;

}  // namespace llmpi
