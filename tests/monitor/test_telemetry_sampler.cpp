#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <thread>

#include "llmpi/core/time_ledger.hpp"
#include "llmpi/monitor/telemetry_sampler.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {
// LLMPI_NVML_LIBRARY for the duration of a test.
struct NvmlLibrary {
  explicit NvmlLibrary(const char* path) { ::setenv("LLMPI_NVML_LIBRARY", path, 1); }
  ~NvmlLibrary() { ::unsetenv("LLMPI_NVML_LIBRARY"); }
};
}  // namespace

TEST_CASE("the sampler reads the rank's GPU through NVML, and the host, every interval",
          "[monitor]") {
  const NvmlLibrary fake(LLMPI_FAKE_NVML);
  TelemetrySampler sampler(3, std::chrono::milliseconds(20), {"00000000:02:00.0", -1});
  CHECK(sampler.source().rank == 3);
  CHECK(sampler.source().gpu == "Fake GPU 1 (00000000:02:00.0)");
  CHECK(sampler.source().note.empty());
  CHECK(sampler.source().interval_s == Approx(0.02));
  {
    const PhaseScope decode(Phase::decode);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::vector<TelemetrySample> samples = sampler.take();
  REQUIRE(samples.size() >= 4);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const TelemetrySample& s = samples[i];
    INFO("sample " << i);
    CHECK(s.rank == 3);
    CHECK(s.gpu_memory_total_bytes == 80.0 * (1ull << 30));
    CHECK(s.gpu_memory_used_bytes >= 2.0 * (1ull << 30));
    CHECK(s.gpu_temperature_c == 41);
    CHECK(s.gpu_power_w == 201);
    CHECK(s.gpu_sm_clock_mhz == 1980);
    CHECK(s.gpu_throttle_reasons == 4);
    CHECK(s.gpu_memory_utilization_pct == 5);
    CHECK(s.host_rss_bytes > 0);
    if (i > 0) {
      CHECK(s.time_s >= samples[i - 1].time_s);
      CHECK(s.gpu_memory_used_bytes > samples[i - 1].gpu_memory_used_bytes);  // read again
    }
  }
  // The time breakdown: the 200 ms just spent in `decode`.
  CHECK(samples.back().phase_s[static_cast<int>(Phase::decode)] >= 0.19);
  CHECK(sampler.take().size() >= 1);  // what was taken is not given twice
}

TEST_CASE("without NVML, or without the GPU asked for, it says why and reads the host",
          "[monitor][bad-input]") {
  {
    const NvmlLibrary missing("/nonexistent/libnvidia-ml.so.1");
    TelemetrySampler sampler(0, std::chrono::milliseconds(20), {"00000000:01:00.0", -1});
    CHECK(sampler.source().gpu.empty());
    CHECK_THAT(sampler.source().note,
               Contains("NVML not loaded") && Contains("/nonexistent/libnvidia-ml.so.1"));
    const auto samples = sampler.take();
    CHECK(std::isnan(samples.back().gpu_memory_used_bytes));
    CHECK(samples.back().host_rss_bytes > 0);
  }
  {
    const NvmlLibrary fake(LLMPI_FAKE_NVML);
    TelemetrySampler sampler(0, std::chrono::milliseconds(20), {"", 7});
    CHECK_THAT(sampler.source().note, Contains("NVML has no GPU 7"));
  }
  TelemetrySampler cpu(0, std::chrono::milliseconds(20), {});
  CHECK_THAT(cpu.source().note, Contains("CPU backend"));
  // Interval 0: no thread, yet every take() records the host and the time breakdown.
  TelemetrySampler off(0, std::chrono::milliseconds(0), {"", 0});
  CHECK_THAT(off.source().note, Contains("sampling off"));
  CHECK(off.take().size() == 1);
}
