#include "common.cuh"
#include "rotary.cuh"

namespace llmpi::kernels {

namespace {

__global__ void rotary_kernel(bf16* __restrict__ x, const int* __restrict__ positions,
                              long long pairs, int heads, int head_dim, float theta) {
  const long long index = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= pairs) return;
  const int half = head_dim / 2;
  const int i = static_cast<int>(index % half);
  const long long head_row = index / half;  // token * heads + head
  const long long token = head_row / heads;
  // Frequencies and angles in fp32 as transformers computes them; sin/cos at full precision.
  const float inv_freq =
      1.0f / powf(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  const float angle = static_cast<float>(positions[token]) * inv_freq;
  float s, c;
  sincosf(angle, &s, &c);
  bf16* v = x + head_row * head_dim;
  const float first = to_float(v[i]);
  const float second = to_float(v[i + half]);
  v[i] = to_bf16(first * c - second * s);
  v[i + half] = to_bf16(second * c + first * s);
}

}  // namespace

void rotary(void* x, const int* positions, long long tokens, int heads, int head_dim, float theta,
            cudaStream_t stream) {
  const long long pairs = tokens * heads * (head_dim / 2);
  if (pairs == 0) return;
  constexpr int kThreads = 256;
  rotary_kernel<<<blocks_for(pairs, kThreads), kThreads, 0, stream>>>(
      static_cast<bf16*>(x), positions, pairs, heads, head_dim, theta);
}

}  // namespace llmpi::kernels
