// Entry point of the `gpu` tests: runs the Catch2 session when a CUDA device is usable,
// otherwise says why and exits 77, which ctest reports as skipped.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>

#include "llmpi/backend/cuda_backend.hpp"

int main(int argc, char** argv) {
  if (const auto reason = llmpi::cuda_unavailable_reason()) {
    std::printf("SKIP: no usable GPU (%s); the gpu tests need a CUDA device\n", reason->c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
