#include "llmpi/monitor/telemetry_sampler.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "llmpi/core/time_ledger.hpp"

namespace llmpi {

namespace {

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

TelemetrySampler::TelemetrySampler(int rank, std::chrono::milliseconds interval,
                                   const GpuChoice& gpu)
    : rank_(rank), interval_(interval), start_(std::chrono::steady_clock::now()) {
  source_.rank = rank;
  source_.interval_s = static_cast<double>(interval.count()) / 1000.0;
  if (gpu.pci_bus_id.empty() && gpu.index < 0) {
    source_.note = "no GPU to read (CPU backend)";
  } else if (interval.count() == 0) {
    source_.note = "sampling off (--telemetry-interval 0)";
  } else {
    std::string why;
    nvml_ = Nvml::load(why);
    if (nvml_) device_ = nvml_->device(gpu.pci_bus_id, gpu.index, why);
    if (device_) {
      source_.gpu = nvml_->describe(*device_);
    } else {
      source_.note = why;
    }
  }
  thread_ = std::make_unique<PeriodicThread>(interval, [this] {
    TelemetrySample s = sample();  // NVML calls outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(s));
  });
}

TelemetrySampler::~TelemetrySampler() = default;

TelemetrySample TelemetrySampler::sample() const {
  TelemetrySample s;
  s.rank = rank_;
  s.time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (device_) {
    const GpuReading gpu = nvml_->read(*device_);
    s.gpu_memory_used_bytes = gpu.memory_used_bytes;
    s.gpu_memory_total_bytes = gpu.memory_total_bytes;
    s.gpu_utilization_pct = gpu.gpu_utilization_pct;
    s.gpu_memory_utilization_pct = gpu.memory_utilization_pct;
    s.gpu_temperature_c = gpu.temperature_c;
    s.gpu_power_w = gpu.power_w;
    s.gpu_sm_clock_mhz = gpu.sm_clock_mhz;
    s.gpu_throttle_reasons = static_cast<std::int64_t>(gpu.throttle_reasons);
  }
  s.host_rss_bytes = resident_bytes();
  s.host_cpu_s = cpu_seconds();
  const auto ledger = time_ledger();
  s.phase_s.assign(ledger.begin(), ledger.end());
  return s;
}

std::vector<TelemetrySample> TelemetrySampler::take() {
  TelemetrySample now = sample();
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TelemetrySample> samples = std::move(pending_);
  pending_.clear();
  samples.push_back(std::move(now));
  return samples;
}

}  // namespace llmpi
