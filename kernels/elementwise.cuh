// Memory-bound element-wise kernels: activations, residual adds, biases, copies, conversions.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// out[t, i] = act(gate_up[t, i]) * gate_up[t, width + i]; activation 0 silu, 1 exact GELU,
// 2 identity.
void gated_mul(const void* gate_up, void* out, long long tokens, int width, int activation,
               cudaStream_t stream);
// Exact (erf) GELU in place.
void gelu(void* x, long long count, cudaStream_t stream);
// GPT-2's tanh-approximated GELU in place.
void gelu_tanh(void* x, long long count, cudaStream_t stream);
// acc += x
void add(void* acc, const void* x, long long count, cudaStream_t stream);
// out[r, c] += bias[c]
void add_bias(void* out, const void* bias, long long rows, int cols, cudaStream_t stream);
// [tokens, q | k | v] -> three matrices.
void split_qkv(const void* fused, void* q, void* k, void* v, long long tokens, int q_cols,
               int kv_cols, cudaStream_t stream);
// dst row rows[i] = src row i.
void scatter_rows(const void* src, void* dst, const int* rows, long long count_rows, int cols,
                  cudaStream_t stream);
// dst row i = src row rows[i].
void gather_rows(const void* src, void* dst, const int* rows, long long count_rows, int cols,
                 cudaStream_t stream);
// out[t] = table[ids[t] - first_id], zero for ids outside the table's rows.
void embedding(const int* ids, const void* table, long long first_id, long long table_rows,
               void* out, long long tokens, int cols, cudaStream_t stream);
void f32_to_bf16(const float* in, void* out, long long count, cudaStream_t stream);
void bf16_to_f32(const void* in, float* out, long long count, cudaStream_t stream);

}  // namespace llmpi::kernels
