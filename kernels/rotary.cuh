// Rotary position embedding (transformers' rotate_half convention).
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// In place. x: [tokens, heads * head_dim] bf16; positions: device int32 [tokens], their angles
// those of position / position_divisor.
void rotary(void* x, const int* positions, long long tokens, int heads, int head_dim, float theta,
            float position_divisor, cudaStream_t stream);

// From fused [tokens, q | k | v] (q_cols, kv_cols, kv_cols): q rotated into q [tokens, q_cols];
// token t's key rotated into k_cache row rows[t], its value copied into v_cache row rows[t].
void qkv_into_cache(const void* fused, void* q, void* k_cache, void* v_cache, const int* positions,
                    const int* rows, long long tokens, int q_cols, int kv_cols, int head_dim,
                    float theta, float position_divisor, cudaStream_t stream);

}  // namespace llmpi::kernels
