#pragma once

#include <array>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "llmpi/results/records.hpp"

namespace llmpi {

// One rank's telemetry over a run: the peaks and means `llmpi report` prints.
struct RankTelemetry {
  int rank = 0;
  std::string gpu;   // the last session's
  std::string note;  // why there are no GPU readings
  double planned_bytes = 0;
  double peak_gpu_memory_bytes = kNotScored;  // NaN without GPU readings
  double mean_gpu_utilization_pct = kNotScored;
  double peak_gpu_temperature_c = kNotScored;
  double peak_gpu_power_w = kNotScored;
  double peak_host_rss_bytes = 0;
  // Seconds per phase (core/time_ledger.hpp's order), over every session.
  std::array<double, kTelemetryPhases> phase_s{};
  double total_s() const;
};

// Per rank, in rank order.
std::vector<RankTelemetry> summarise_ranks(std::span<const TelemetrySource> sources,
                                           std::span<const TelemetrySample> samples);

// The rank the others wait for, if one stands out: its time waiting on other ranks is under
// half the mean of its peers', who waited at least 5 s and a tenth of their time.
std::optional<int> find_straggler(std::span<const RankTelemetry> ranks);

// B minus A over the requests both runs scored (matched by id) that `keep` selects: the mean
// difference and a 95% confidence interval from the paired differences (normal approximation).
struct PairedDifference {
  std::int64_t pairs = 0;
  double mean = kNotScored;
  double ci_low = kNotScored;
  double ci_high = kNotScored;
};
PairedDifference paired_difference(std::span<const RequestResult> a,
                                   std::span<const RequestResult> b,
                                   const std::function<bool(const RequestResult&)>& keep);

}  // namespace llmpi
