// Rotary position embedding in place (transformers' rotate_half convention).
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// x: [tokens, heads * head_dim] bf16; positions: device int32 [tokens].
void rotary(void* x, const int* positions, long long tokens, int heads, int head_dim, float theta,
            cudaStream_t stream);

}  // namespace llmpi::kernels
