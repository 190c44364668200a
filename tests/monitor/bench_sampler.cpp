// Benchmark, not a test: what one telemetry sample costs this rank (host readings, the time
// breakdown, and NVML's readings when LLMPI_NVML_LIBRARY or the driver provides a GPU 0), and
// so the share of one core the sampler takes at a 1 s interval.
//   bench_sampler [SAMPLES]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "llmpi/monitor/telemetry_sampler.hpp"

using namespace llmpi;

int main(int argc, char** argv) {
  const int samples = argc > 1 ? std::atoi(argv[1]) : 20000;
  // An interval of an hour: NVML loaded, its thread asleep, so every take() is one sample
  // measured here.
  TelemetrySampler sampler(0, std::chrono::hours(1), {"", 0});
  std::printf("GPU: %s\n", sampler.source().gpu.empty() ? sampler.source().note.c_str()
                                                        : sampler.source().gpu.c_str());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < samples; ++i) sampler.take();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double per_sample = seconds / samples;
  std::printf("%d samples in %.3f s: %.1f us a sample, %.4f%% of one core at a 1 s interval\n",
              samples, seconds, per_sample * 1e6, per_sample * 100.0);
  return 0;
}
