#include "llmpi/cli/backend_choice.hpp"

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/error.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif

namespace llmpi {

std::unique_ptr<Backend> make_backend(const std::string& kind, int device, int cpu_threads) {
  if (kind == "cuda") {
#ifdef LLMPI_HAVE_CUDA
    return std::make_unique<CudaBackend>(device);
#else
    (void)device;
    throw Error("--backend cuda: this llmpi was built without CUDA (nvcc was not found)");
#endif
  }
  return std::make_unique<CpuBackend>(cpu_threads);
}

}  // namespace llmpi
