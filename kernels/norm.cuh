// RMSNorm and LayerNorm over the rows of a [rows, cols] bf16 matrix, fp32 statistics.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// With `delta` (else null): x += delta first, written back, and the sum normalised. eps_on_root:
// x / (sqrt(mean(x^2)) + eps) (StripedHyena) instead of x / sqrt(mean(x^2) + eps).
void rms_norm(void* x, const void* delta, const void* weight, void* out, long long rows, int cols,
              float eps, bool eps_on_root, cudaStream_t stream);
void layer_norm(void* x, const void* delta, const void* weight, const void* bias, void* out,
                long long rows, int cols, float eps, cudaStream_t stream);

}  // namespace llmpi::kernels
