// On a GPU machine (label `gpu`; exit 77 without a usable GPU): the telemetry sampler's
// readings of the GPU agree with nvidia-smi's, taken over the same seconds while the CUDA
// backend runs GEMMs on it. Prints both and the differences; fails when memory used differs by
// more than 5% or 256 MiB, mean utilisation by more than 15 points, or temperature by more than
// 3 degrees.
#include <cuda_runtime.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/monitor/telemetry_sampler.hpp"

using namespace llmpi;

namespace {

struct Smi {
  double memory_mib = 0, utilization = 0, temperature = 0;
};

// nvidia-smi's readings every 200 ms from a child process, until stopped.
class SmiReader {
 public:
  explicit SmiReader(const std::string& bus_id) {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::execlp("nvidia-smi", "nvidia-smi", ("--id=" + bus_id).c_str(),
               "--query-gpu=memory.used,utilization.gpu,temperature.gpu",
               "--format=csv,noheader,nounits", "-lms", "200", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  std::vector<Smi> stop() {
    ::kill(pid_, SIGTERM);
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(out_, buffer, sizeof buffer)) > 0;) text.append(buffer, n);
    ::close(out_);
    ::waitpid(pid_, nullptr, 0);
    std::vector<Smi> rows;
    std::stringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      Smi s;
      if (std::sscanf(line.c_str(), "%lf, %lf, %lf", &s.memory_mib, &s.utilization,
                      &s.temperature) == 3) {
        rows.push_back(s);
      }
    }
    return rows;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
};

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIP: no usable CUDA device\n");
    return 77;
  }
  CudaBackend backend(0);
  TelemetrySampler sampler(0, std::chrono::milliseconds(200), {backend.pci_bus_id(), 0});
  if (sampler.source().gpu.empty()) {
    std::printf("FAIL: no GPU readings: %s\n", sampler.source().note.c_str());
    return 1;
  }
  std::printf("reading %s\n", sampler.source().gpu.c_str());
  SmiReader smi(backend.pci_bus_id());
  // About 6 s of GEMMs on 8192 x 8192 matrices.
  const std::int64_t n = 8192;
  std::vector<float> host(static_cast<std::size_t>(n * n), 0.001f);
  const Tensor a = backend.upload(host, n, n);
  Tensor out = backend.allocate(n, n);
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(6)) {
    for (int i = 0; i < 10; ++i) backend.linear(a, a, Tensor{}, out);
    backend.synchronize();
  }
  const std::vector<TelemetrySample> ours = sampler.take();
  const std::vector<Smi> theirs = smi.stop();
  if (ours.size() < 10 || theirs.size() < 10) {
    std::printf("FAIL: %zu readings of ours, %zu of nvidia-smi\n", ours.size(), theirs.size());
    return 1;
  }
  const auto mean = [](const auto& rows, auto field) {
    double sum = 0;
    for (const auto& r : rows) sum += field(r);
    return sum / static_cast<double>(rows.size());
  };
  const auto peak = [](const auto& rows, auto field) {
    double best = 0;
    for (const auto& r : rows) best = std::max(best, field(r));
    return best;
  };
  const double our_memory = peak(
      ours, [](const TelemetrySample& s) { return s.gpu_memory_used_bytes / (1024.0 * 1024.0); });
  const double smi_memory = peak(theirs, [](const Smi& s) { return s.memory_mib; });
  const double our_util =
      mean(ours, [](const TelemetrySample& s) { return s.gpu_utilization_pct; });
  const double smi_util = mean(theirs, [](const Smi& s) { return s.utilization; });
  const double our_temp = peak(ours, [](const TelemetrySample& s) { return s.gpu_temperature_c; });
  const double smi_temp = peak(theirs, [](const Smi& s) { return s.temperature; });
  std::printf("%-24s %12s %12s %12s\n", "", "llmpi", "nvidia-smi", "difference");
  std::printf("%-24s %12.0f %12.0f %+12.0f\n", "peak memory used MiB", our_memory, smi_memory,
              our_memory - smi_memory);
  std::printf("%-24s %12.1f %12.1f %+12.1f\n", "mean utilisation %", our_util, smi_util,
              our_util - smi_util);
  std::printf("%-24s %12.0f %12.0f %+12.0f\n", "peak temperature C", our_temp, smi_temp,
              our_temp - smi_temp);
  std::printf("(%zu readings of ours, %zu of nvidia-smi)\n", ours.size(), theirs.size());
  const bool agree = std::abs(our_memory - smi_memory) <= std::max(256.0, 0.05 * smi_memory) &&
                     std::abs(our_util - smi_util) <= 15 && std::abs(our_temp - smi_temp) <= 3;
  std::printf("%s\n", agree ? "readings agree" : "FAIL: readings differ");
  return agree ? 0 : 1;
}
