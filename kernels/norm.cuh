// RMSNorm and LayerNorm over the rows of a [rows, cols] bf16 matrix, fp32 statistics.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

void rms_norm(const void* x, const void* weight, void* out, long long rows, int cols, float eps,
              cudaStream_t stream);
void layer_norm(const void* x, const void* weight, const void* bias, void* out, long long rows,
                int cols, float eps, cudaStream_t stream);

}  // namespace llmpi::kernels
