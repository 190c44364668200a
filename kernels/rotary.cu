#include "common.cuh"
#include "rotary.cuh"

namespace llmpi::kernels {

namespace {

// Rotates element i of a head (with element i + head_dim/2) to `position`. Frequencies and
// angles in fp32 as transformers computes them; sin/cos at full precision.
// position_divisor: linear position interpolation (the position divided in fp32 first).
__device__ __forceinline__ void rotate(float& first, float& second, int position, int i,
                                       int head_dim, float theta, float position_divisor) {
  if (theta == 0.0f) return;  // learned positions: nothing to rotate
  const float inv_freq =
      1.0f / powf(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  const float angle = (static_cast<float>(position) / position_divisor) * inv_freq;
  float s, c;
  sincosf(angle, &s, &c);
  const float x = first;
  const float y = second;
  first = x * c - y * s;
  second = y * c + x * s;
}

__global__ void rotary_kernel(bf16* __restrict__ x, const int* __restrict__ positions,
                              long long pairs, int heads, int head_dim, float theta,
                              float position_divisor) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= pairs) return;
  const int half = head_dim / 2;
  const int i = static_cast<int>(index % half);
  const long long head_row = index / half;  // token * heads + head
  const long long token = head_row / heads;
  bf16* v = x + head_row * head_dim;
  float first = to_float(v[i]);
  float second = to_float(v[i + half]);
  rotate(first, second, positions[token], i, head_dim, theta, position_divisor);
  v[i] = to_bf16(first);
  v[i + half] = to_bf16(second);
}

// One thread per query pair, key pair and value element of each token: the query rotated into
// q, the key rotated and the value copied into the token's cache row.
__global__ void qkv_into_cache_kernel(const bf16* __restrict__ fused, bf16* __restrict__ q,
                                      bf16* __restrict__ k_cache, bf16* __restrict__ v_cache,
                                      const int* __restrict__ positions,
                                      const int* __restrict__ rows, long long count, int q_cols,
                                      int kv_cols, int head_dim, float theta,
                                      float position_divisor) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  const int half = head_dim / 2;
  const int q_pairs = q_cols / 2;
  const int k_pairs = kv_cols / 2;
  const int width = q_pairs + k_pairs + kv_cols;
  const long long token = index / width;
  int column = static_cast<int>(index % width);
  const bf16* in = fused + token * (q_cols + 2LL * kv_cols);
  const long long cache_row = static_cast<long long>(rows[token]) * kv_cols;
  if (column >= q_pairs + k_pairs) {
    const int element = column - q_pairs - k_pairs;
    v_cache[cache_row + element] = in[q_cols + kv_cols + element];
    return;
  }
  const bool is_query = column < q_pairs;
  if (!is_query) column -= q_pairs;
  const int i = column % half;
  const int at = column / half * head_dim + i;  // the pair's first element within q or k
  const bf16* source = is_query ? in + at : in + q_cols + at;
  bf16* target = is_query ? q + token * q_cols + at : k_cache + cache_row + at;
  float first = to_float(source[0]);
  float second = to_float(source[half]);
  rotate(first, second, positions[token], i, head_dim, theta, position_divisor);
  target[0] = to_bf16(first);
  target[half] = to_bf16(second);
}

}  // namespace

void rotary(void* x, const int* positions, long long tokens, int heads, int head_dim, float theta,
            float position_divisor, cudaStream_t stream) {
  const long long pairs = tokens * heads * (head_dim / 2);
  if (pairs == 0 || theta == 0.0f) return;
  constexpr int kThreads = 256;
  rotary_kernel<<<blocks_for(pairs, kThreads), kThreads, 0, stream>>>(
      static_cast<bf16*>(x), positions, pairs, heads, head_dim, theta, position_divisor);
}

void qkv_into_cache(const void* fused, void* q, void* k_cache, void* v_cache, const int* positions,
                    const int* rows, long long tokens, int q_cols, int kv_cols, int head_dim,
                    float theta, float position_divisor, cudaStream_t stream) {
  const long long count = tokens * (q_cols / 2 + kv_cols / 2 + kv_cols);
  if (count == 0) return;
  constexpr int kThreads = 256;
  qkv_into_cache_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<const bf16*>(fused), static_cast<bf16*>(q), static_cast<bf16*>(k_cache),
      static_cast<bf16*>(v_cache), positions, rows, count, q_cols, kv_cols, head_dim, theta,
      position_divisor);
}

}  // namespace llmpi::kernels
