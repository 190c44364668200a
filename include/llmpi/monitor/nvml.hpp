#pragma once

// NVIDIA's management library (NVML), loaded at run time with dlopen so one llmpi binary runs
// where there is no driver: the GPU readings are then absent, said once, and nothing else
// changes. LLMPI_NVML_LIBRARY names another library to load instead of libnvidia-ml.so.1 (the
// tests' stand-in with scripted readings; a driver installed off the loader's path).
#include <cstdint>
#include <memory>
#include <string>

namespace llmpi {

// One reading of one GPU. Values NVML cannot give on this device are NaN (or 0 for the
// throttle reasons).
struct GpuReading {
  double memory_used_bytes = 0;
  double memory_total_bytes = 0;
  double gpu_utilization_pct = 0;     // over NVML's last sample period
  double memory_utilization_pct = 0;  // share of time device memory was read or written
  double temperature_c = 0;
  double power_w = 0;
  double sm_clock_mhz = 0;
  std::uint64_t throttle_reasons = 0;  // NVML's clocks-event reason bits
};

class Nvml {
 public:
  // The library, initialised; null with `why` said when it is not there or will not start.
  static std::unique_ptr<Nvml> load(std::string& why);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  // A GPU by PCI bus id ("00000000:3B:00.0", as CUDA reports it) or, when that is empty, by
  // NVML index; null with `why` said when there is no such device.
  struct Device;
  std::shared_ptr<const Device> device(const std::string& pci_bus_id, int index,
                                       std::string& why) const;
  // "NVIDIA H200 (00000000:3B:00.0)"
  std::string describe(const Device& device) const;
  GpuReading read(const Device& device) const;

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

}  // namespace llmpi
