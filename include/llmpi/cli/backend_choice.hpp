#pragma once

#include <memory>
#include <string>

#include "llmpi/backend/backend.hpp"

namespace llmpi {

// The backend `--backend` names: "cuda" on `device` (refused where llmpi was built without
// CUDA), or "cpu" with `cpu_threads` OpenMP threads (0: OpenMP's default).
// LLMPI_CUDA_GRAPHS: 1 records each decode step shape as a CUDA graph, 0 or unset launches every
// op (the default until the recording has been measured on a GPU).
bool cuda_graphs_requested();
// LLMPI_CUDA_FP8_GEMM: 1 or unset runs a model's FP8 projections (Evo 2) as FP8 GEMMs where the
// device has FP8 tensor cores, 0 emulates them in bf16 GEMMs of E4M3 values.
bool cuda_fp8_gemms_requested();

std::unique_ptr<Backend> make_backend(const std::string& kind, int device, int cpu_threads);

}  // namespace llmpi
