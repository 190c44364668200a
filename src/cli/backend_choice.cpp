#include "llmpi/cli/backend_choice.hpp"

#include <cstdlib>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/error.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#endif

namespace llmpi {

bool cuda_graphs_requested() {
  const char* value = std::getenv("LLMPI_CUDA_GRAPHS");
  if (value == nullptr || *value == '\0') return false;
  const std::string text = value;
  if (text == "1") return true;
  if (text == "0") return false;
  throw Error("LLMPI_CUDA_GRAPHS=" + text +
              ": expected 1 (record decode steps as CUDA graphs) "
              "or 0 (launch every op)");
}

std::unique_ptr<Backend> make_backend(const std::string& kind, int device, int cpu_threads) {
  if (kind == "cuda") {
#ifdef LLMPI_HAVE_CUDA
    auto backend = std::make_unique<CudaBackend>(device);
    backend->set_records_repeated(cuda_graphs_requested());
    return backend;
#else
    (void)device;
    throw Error("--backend cuda: this llmpi was built without CUDA (nvcc was not found)");
#endif
  }
  return std::make_unique<CpuBackend>(cpu_threads);
}

}  // namespace llmpi
