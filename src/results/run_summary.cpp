#include "llmpi/results/run_summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

namespace llmpi {

double RankTelemetry::total_s() const {
  double total = 0;
  for (const double s : phase_s) total += s;
  return total;
}

std::vector<RankTelemetry> summarise_ranks(std::span<const TelemetrySource> sources,
                                           std::span<const TelemetrySample> samples) {
  std::map<int, RankTelemetry> ranks;
  for (const TelemetrySource& source : sources) {
    RankTelemetry& r = ranks[source.rank];
    r.rank = source.rank;
    r.gpu = source.gpu;
    r.note = source.note;
    r.planned_bytes = source.planned_bytes;
  }
  // Phase times are cumulative within a session: each session adds its last sample's.
  std::map<std::pair<int, int>, const TelemetrySample*> last;
  std::map<int, std::pair<double, std::int64_t>> utilization;  // sum, count
  const auto peak = [](double& into, double value) {
    if (!std::isnan(value)) into = std::isnan(into) ? value : std::max(into, value);
  };
  for (const TelemetrySample& s : samples) {
    RankTelemetry& r = ranks[s.rank];
    r.rank = s.rank;
    peak(r.peak_gpu_memory_bytes, s.gpu_memory_used_bytes);
    peak(r.peak_gpu_temperature_c, s.gpu_temperature_c);
    peak(r.peak_gpu_power_w, s.gpu_power_w);
    r.peak_host_rss_bytes = std::max(r.peak_host_rss_bytes, s.host_rss_bytes);
    if (!std::isnan(s.gpu_utilization_pct)) {
      utilization[s.rank].first += s.gpu_utilization_pct;
      ++utilization[s.rank].second;
    }
    const auto key = std::make_pair(s.rank, s.session);
    if (!last.contains(key) || last[key]->time_s <= s.time_s) last[key] = &s;
  }
  for (const auto& [key, sample] : last) {
    RankTelemetry& r = ranks[key.first];
    for (std::size_t i = 0; i < r.phase_s.size() && i < sample->phase_s.size(); ++i) {
      r.phase_s[i] += sample->phase_s[i];
    }
  }
  std::vector<RankTelemetry> out;
  for (auto& [rank, r] : ranks) {
    if (const auto it = utilization.find(rank); it != utilization.end()) {
      r.mean_gpu_utilization_pct = it->second.first / static_cast<double>(it->second.second);
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<int> find_straggler(std::span<const RankTelemetry> ranks) {
  constexpr std::size_t kWaiting = kTelemetryPhases - 1;  // core/time_ledger.hpp's last phase
  if (ranks.size() < 2) return std::nullopt;
  std::optional<int> found;
  double lowest = 0;
  for (const RankTelemetry& candidate : ranks) {
    double others = 0, others_total = 0;
    for (const RankTelemetry& r : ranks) {
      if (r.rank == candidate.rank) continue;
      others += r.phase_s[kWaiting];
      others_total += r.total_s();
    }
    const double peers = static_cast<double>(ranks.size() - 1);
    const double mean_wait = others / peers;
    const double mean_total = others_total / peers;
    const double own = candidate.phase_s[kWaiting];
    if (mean_wait >= 5.0 && mean_wait >= 0.1 * mean_total && own < 0.5 * mean_wait &&
        (!found || own < lowest)) {
      found = candidate.rank;
      lowest = own;
    }
  }
  return found;
}

PairedDifference paired_difference(std::span<const RequestResult> a,
                                   std::span<const RequestResult> b,
                                   const std::function<bool(const RequestResult&)>& keep) {
  std::unordered_map<std::string, double> first;
  for (const RequestResult& row : a) {
    if (keep(row) && !std::isnan(row.score)) first[row.id] = row.score;
  }
  double sum = 0, square_sum = 0;
  std::int64_t n = 0;
  for (const RequestResult& row : b) {
    const auto it = first.find(row.id);
    if (it == first.end() || !keep(row) || std::isnan(row.score)) continue;
    const double d = row.score - it->second;
    sum += d;
    square_sum += d * d;
    ++n;
  }
  PairedDifference difference;
  difference.pairs = n;
  if (n == 0) return difference;
  const double count = static_cast<double>(n);
  difference.mean = sum / count;
  if (n > 1) {
    const double variance = std::max(0.0, (square_sum - sum * sum / count) / (count - 1));
    const double half = 1.959964 * std::sqrt(variance / count);
    difference.ci_low = difference.mean - half;
    difference.ci_high = difference.mean + half;
  }
  return difference;
}

}  // namespace llmpi
