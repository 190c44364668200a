// The environment switches that shape the CUDA backend, read the same way: 1 or 0, a default
// when unset, anything else refused with what each value means.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "llmpi/cli/backend_choice.hpp"

using namespace llmpi;

TEST_CASE("LLMPI_CUDA_GRAPHS and LLMPI_CUDA_FP8_GEMM take 1 or 0, with their defaults", "[cli]") {
  ::unsetenv("LLMPI_CUDA_GRAPHS");
  ::unsetenv("LLMPI_CUDA_FP8_GEMM");
  CHECK_FALSE(cuda_graphs_requested());  // graphs: opt-in
  CHECK(cuda_fp8_gemms_requested());     // FP8 GEMMs: on where the device has them
  ::setenv("LLMPI_CUDA_FP8_GEMM", "", 1);
  CHECK(cuda_fp8_gemms_requested());
  ::setenv("LLMPI_CUDA_FP8_GEMM", "0", 1);
  CHECK_FALSE(cuda_fp8_gemms_requested());
  ::setenv("LLMPI_CUDA_GRAPHS", "1", 1);
  CHECK(cuda_graphs_requested());
  ::setenv("LLMPI_CUDA_FP8_GEMM", "yes", 1);
  CHECK_THROWS_WITH(cuda_fp8_gemms_requested(),
                    Catch::Contains("LLMPI_CUDA_FP8_GEMM=yes: expected 1 (FP8 GEMMs") &&
                        Catch::Contains("or 0 (emulate FP8 in bf16 GEMMs)"));
  ::unsetenv("LLMPI_CUDA_GRAPHS");
  ::unsetenv("LLMPI_CUDA_FP8_GEMM");
}
