// Helpers shared by every kernel: bf16 <-> fp32 and warp/block reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace llmpi::kernels {

using bf16 = __nv_bfloat16;

__device__ __forceinline__ float to_float(bf16 value) {
  return __bfloat162float(value);
}
__device__ __forceinline__ bf16 to_bf16(float value) {
  return __float2bfloat16_rn(value);
}

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    value += __shfl_xor_sync(0xffffffffu, value, offset);
  return value;
}

__device__ __forceinline__ float warp_max(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, offset));
  }
  return value;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float value) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  value = warp_sum(value);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / 32;
  value = lane < warps ? partial[lane] : 0.0f;
  return warp_sum(value);
}

// Maximum over the whole block (same shape rules as block_sum); every thread gets it.
__device__ __forceinline__ float block_max(float value) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  value = warp_max(value);
  __syncthreads();
  if (lane == 0) partial[warp] = value;
  __syncthreads();
  const int warps = blockDim.x / 32;
  value = lane < warps ? partial[lane] : -INFINITY;
  return warp_max(value);
}

// Whether (value, index) beats (best, best_index): larger, or as large at a lower index (the
// tie rule of torch.argmax).
__device__ __forceinline__ bool better(float value, int index, float best, int best_index) {
  return value > best || (value == best && index < best_index);
}

// Arg-max over a block of kThreads threads (a power of two); thread 0 ends with the winner.
template <int kThreads>
__device__ __forceinline__ void block_arg_max(float& value, int& index) {
  __shared__ float values[kThreads];
  __shared__ int indices[kThreads];
  values[threadIdx.x] = value;
  indices[threadIdx.x] = index;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      const int other = threadIdx.x + stride;
      if (better(values[other], indices[other], values[threadIdx.x], indices[threadIdx.x])) {
        values[threadIdx.x] = values[other];
        indices[threadIdx.x] = indices[other];
      }
    }
    __syncthreads();
  }
  value = values[0];
  index = indices[0];
}

inline unsigned int blocks_for(long long count, int threads) {
  return static_cast<unsigned int>((count + threads - 1) / threads);
}

}  // namespace llmpi::kernels
