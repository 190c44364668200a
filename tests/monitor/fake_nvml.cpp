// A stand-in for libnvidia-ml.so.1 with scripted readings, loaded by the tests through
// LLMPI_NVML_LIBRARY: two GPUs, "00000000:01:00.0" and "00000000:02:00.0", whose readings
// follow from the device index and how many times it has been read (the n-th read of device d):
//   memory used  (d + 1) GiB + n MiB of total 80 GiB    utilisation  10 d + n mod 50 %
//   memory util  5 %                                     temperature  40 + d C
//   power        (200 + d) W                             SM clock     1980 MHz
//   throttle reasons  0x4 (software power cap)
#include <cstdio>
#include <cstring>

namespace {
struct Memory {
  unsigned long long total, free, used;
};
struct Utilization {
  unsigned gpu, memory;
};
struct Device {
  int index;
  unsigned long long reads;
};
Device devices[2] = {{0, 0}, {1, 0}};
constexpr unsigned long long kGiB = 1ull << 30;
constexpr int kNotFound = 6;         // NVML_ERROR_NOT_FOUND
constexpr int kInvalidArgument = 2;  // NVML_ERROR_INVALID_ARGUMENT
}  // namespace

extern "C" {

int nvmlInit_v2() {
  return 0;
}
int nvmlShutdown() {
  return 0;
}
const char* nvmlErrorString(int code) {
  return code == kNotFound ? "Not Found" : code == 0 ? "Success" : "Invalid Argument";
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (index > 1) return kInvalidArgument;
  *device = &devices[index];
  return 0;
}

int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, void** device) {
  for (Device& d : devices) {
    char id[32];
    std::snprintf(id, sizeof id, "00000000:%02d:00.0", d.index + 1);
    if (std::strcmp(id, bus_id) == 0) {
      *device = &d;
      return 0;
    }
  }
  return kNotFound;
}

int nvmlDeviceGetName(void* device, char* name, unsigned length) {
  std::snprintf(name, length, "Fake GPU %d", static_cast<Device*>(device)->index);
  return 0;
}

int nvmlDeviceGetMemoryInfo(void* device, Memory* memory) {
  Device& d = *static_cast<Device*>(device);
  ++d.reads;
  memory->total = 80 * kGiB;
  memory->used = static_cast<unsigned long long>(d.index + 1) * kGiB + d.reads * (1ull << 20);
  memory->free = memory->total - memory->used;
  return 0;
}

int nvmlDeviceGetUtilizationRates(void* device, Utilization* utilization) {
  const Device& d = *static_cast<Device*>(device);
  utilization->gpu = static_cast<unsigned>(10 * d.index + d.reads % 50);
  utilization->memory = 5;
  return 0;
}

int nvmlDeviceGetTemperature(void* device, int, unsigned* celsius) {
  *celsius = 40u + static_cast<unsigned>(static_cast<Device*>(device)->index);
  return 0;
}

int nvmlDeviceGetPowerUsage(void* device, unsigned* milliwatts) {
  *milliwatts = (200u + static_cast<unsigned>(static_cast<Device*>(device)->index)) * 1000u;
  return 0;
}

int nvmlDeviceGetClockInfo(void*, int, unsigned* mhz) {
  *mhz = 1980;
  return 0;
}

int nvmlDeviceGetCurrentClocksThrottleReasons(void*, unsigned long long* reasons) {
  *reasons = 0x4;
  return 0;
}

}  // extern "C"
