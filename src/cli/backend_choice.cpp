#include "llmpi/cli/backend_choice.hpp"

#include <cstdlib>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/error.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif

namespace llmpi {

namespace {

// An on/off environment switch: 1 or 0, `unset` when absent or empty; anything else is refused
// with what each value means.
bool environment_switch(const char* name, bool unset, const char* on, const char* off) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return unset;
  const std::string text = value;
  if (text == "1") return true;
  if (text == "0") return false;
  throw Error(std::string(name) + "=" + text + ": expected 1 (" + on + ") or 0 (" + off + ")");
}

}  // namespace

bool cuda_graphs_requested() {
  return environment_switch("LLMPI_CUDA_GRAPHS", false, "record decode steps as CUDA graphs",
                            "launch every op");
}

bool cuda_fp8_gemms_requested() {
  return environment_switch("LLMPI_CUDA_FP8_GEMM", true,
                            "FP8 GEMMs on devices with FP8 tensor cores",
                            "emulate FP8 in bf16 GEMMs");
}

std::unique_ptr<Backend> make_backend(const std::string& kind, int device, int cpu_threads) {
  if (kind == "cuda") {
#ifdef LLMPI_HAVE_CUDA
    auto backend = std::make_unique<CudaBackend>(device);
    backend->set_records_repeated(cuda_graphs_requested());
    backend->set_fp8_gemms(cuda_fp8_gemms_requested());
    return backend;
#else
    (void)device;
    throw Error("--backend cuda: this llmpi was built without CUDA (nvcc was not found)");
#endif
  }
  return std::make_unique<CpuBackend>(cpu_threads);
}

}  // namespace llmpi
