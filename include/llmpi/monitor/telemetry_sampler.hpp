#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "llmpi/core/periodic_thread.hpp"
#include "llmpi/monitor/nvml.hpp"
#include "llmpi/results/records.hpp"

namespace llmpi {

// Which GPU a rank's telemetry reads: its CUDA device's PCI bus id, or an NVML index; none on
// the CPU backend unless asked for (--telemetry-device).
struct GpuChoice {
  std::string pci_bus_id;
  int index = -1;  // used when pci_bus_id is empty; -1: no GPU readings
};

// Samples one rank every `interval` on a thread of its own: the GPU it uses (through NVML,
// loaded at run time) and the host (its resident memory and CPU time), with the time breakdown
// so far (core/time_ledger.hpp). A zero interval starts no thread; take() still records one
// sample, so every round keeps the time breakdown.
class TelemetrySampler {
 public:
  TelemetrySampler(int rank, std::chrono::milliseconds interval, const GpuChoice& gpu);
  ~TelemetrySampler();
  TelemetrySampler(const TelemetrySampler&) = delete;
  TelemetrySampler& operator=(const TelemetrySampler&) = delete;

  // Where the readings come from (`planned_bytes` and `session` left for the caller).
  const TelemetrySource& source() const { return source_; }
  // The samples since the last take(), and one taken now.
  std::vector<TelemetrySample> take();

 private:
  TelemetrySample sample() const;

  int rank_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::unique_ptr<Nvml> nvml_;
  std::shared_ptr<const Nvml::Device> device_;
  TelemetrySource source_;
  std::mutex mutex_;  // guards pending_
  std::vector<TelemetrySample> pending_;
  std::unique_ptr<PeriodicThread> thread_;  // last: it samples until it goes
};

}  // namespace llmpi
