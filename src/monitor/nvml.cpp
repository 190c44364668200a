#include "llmpi/monitor/nvml.hpp"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace llmpi {

namespace {

// The few NVML types and entry points used, declared here (not from nvml.h) so that builds
// without the CUDA toolkit compile this file.
using Return = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
using DeviceHandle = void*;
struct Memory {
  unsigned long long total, free, used;
};
struct Utilization {
  unsigned gpu, memory;
};
constexpr int kTemperatureGpu = 0;  // NVML_TEMPERATURE_GPU
constexpr int kClockSm = 1;         // NVML_CLOCK_SM
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

struct Nvml::Api {
  void* library = nullptr;
  Return (*init)() = nullptr;
  Return (*shutdown)() = nullptr;
  const char* (*error_string)(Return) = nullptr;
  Return (*by_index)(unsigned, DeviceHandle*) = nullptr;
  Return (*by_pci_bus_id)(const char*, DeviceHandle*) = nullptr;
  Return (*name)(DeviceHandle, char*, unsigned) = nullptr;
  Return (*memory)(DeviceHandle, Memory*) = nullptr;
  Return (*utilization)(DeviceHandle, Utilization*) = nullptr;
  Return (*temperature)(DeviceHandle, int, unsigned*) = nullptr;
  Return (*power)(DeviceHandle, unsigned*) = nullptr;
  Return (*clock)(DeviceHandle, int, unsigned*) = nullptr;
  Return (*throttle)(DeviceHandle, unsigned long long*) = nullptr;

  std::string error(Return code) const {
    return error_string != nullptr ? error_string(code) : "NVML error " + std::to_string(code);
  }
};

struct Nvml::Device {
  DeviceHandle handle = nullptr;
  std::string pci_bus_id;
};

namespace {

template <typename Function>
bool bind(void* library, const char* name, Function& function) {
  function = reinterpret_cast<Function>(::dlsym(library, name));
  return function != nullptr;
}

}  // namespace

std::unique_ptr<Nvml> Nvml::load(std::string& why) {
  const char* configured = std::getenv("LLMPI_NVML_LIBRARY");
  const std::string path = configured != nullptr && *configured ? configured : "libnvidia-ml.so.1";
  auto api = std::make_unique<Api>();
  api->library = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    const char* reason = ::dlerror();
    why =
        "NVML not loaded (" + path + ": " + (reason ? reason : "not found") + "): no GPU readings";
    return nullptr;
  }
  void* lib = api->library;
  const bool complete = bind(lib, "nvmlInit_v2", api->init) &&
                        bind(lib, "nvmlShutdown", api->shutdown) &&
                        bind(lib, "nvmlDeviceGetHandleByIndex_v2", api->by_index) &&
                        bind(lib, "nvmlDeviceGetHandleByPciBusId_v2", api->by_pci_bus_id) &&
                        bind(lib, "nvmlDeviceGetMemoryInfo", api->memory) &&
                        bind(lib, "nvmlDeviceGetUtilizationRates", api->utilization) &&
                        bind(lib, "nvmlDeviceGetTemperature", api->temperature) &&
                        bind(lib, "nvmlDeviceGetPowerUsage", api->power) &&
                        bind(lib, "nvmlDeviceGetClockInfo", api->clock);
  bind(lib, "nvmlErrorString", api->error_string);
  bind(lib, "nvmlDeviceGetName", api->name);
  // Renamed in newer drivers; the old name stays exported for compatibility.
  if (!bind(lib, "nvmlDeviceGetCurrentClocksEventReasons", api->throttle)) {
    bind(lib, "nvmlDeviceGetCurrentClocksThrottleReasons", api->throttle);
  }
  if (!complete) {
    why = "NVML at " + path + " lacks the functions llmpi reads: no GPU readings";
    ::dlclose(lib);
    return nullptr;
  }
  if (const Return code = api->init(); code != 0) {
    why = "NVML did not start (" + api->error(code) + "): no GPU readings";
    ::dlclose(lib);
    return nullptr;
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  ::dlclose(api_->library);
}

std::shared_ptr<const Nvml::Device> Nvml::device(const std::string& pci_bus_id, int index,
                                                 std::string& why) const {
  auto device = std::make_shared<Device>();
  device->pci_bus_id = pci_bus_id;
  const Return code = pci_bus_id.empty()
                          ? api_->by_index(static_cast<unsigned>(index), &device->handle)
                          : api_->by_pci_bus_id(pci_bus_id.c_str(), &device->handle);
  if (code != 0) {
    why = "NVML has no GPU " + (pci_bus_id.empty() ? std::to_string(index) : pci_bus_id) + " (" +
          api_->error(code) + "): no GPU readings";
    return nullptr;
  }
  return device;
}

std::string Nvml::describe(const Device& device) const {
  char name[96] = {};
  if (api_->name == nullptr || api_->name(device.handle, name, sizeof name) != 0) {
    std::snprintf(name, sizeof name, "a GPU");
  }
  return std::string(name) + (device.pci_bus_id.empty() ? "" : " (" + device.pci_bus_id + ")");
}

GpuReading Nvml::read(const Device& device) const {
  GpuReading reading;
  const auto value = [](Return code, double v) { return code == 0 ? v : kNaN; };
  Memory memory{};
  const Return memory_code = api_->memory(device.handle, &memory);
  reading.memory_used_bytes = value(memory_code, static_cast<double>(memory.used));
  reading.memory_total_bytes = value(memory_code, static_cast<double>(memory.total));
  Utilization utilization{};
  const Return utilization_code = api_->utilization(device.handle, &utilization);
  reading.gpu_utilization_pct = value(utilization_code, utilization.gpu);
  reading.memory_utilization_pct = value(utilization_code, utilization.memory);
  // Each call before its value is read (a function's arguments have no order).
  unsigned temperature = 0, milliwatts = 0, mhz = 0;
  const Return temperature_code = api_->temperature(device.handle, kTemperatureGpu, &temperature);
  reading.temperature_c = value(temperature_code, temperature);
  const Return power_code = api_->power(device.handle, &milliwatts);
  reading.power_w = value(power_code, milliwatts / 1000.0);
  const Return clock_code = api_->clock(device.handle, kClockSm, &mhz);
  reading.sm_clock_mhz = value(clock_code, mhz);
  unsigned long long reasons = 0;
  if (api_->throttle != nullptr && api_->throttle(device.handle, &reasons) == 0) {
    reading.throttle_reasons = reasons;
  }
  return reading;
}

}  // namespace llmpi
