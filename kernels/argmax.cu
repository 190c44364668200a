#include "argmax.cuh"
#include "common.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ bool better(float value, int index, float best, int best_index) {
  return value > best || (value == best && index < best_index);
}

__global__ void max_rows_kernel(const bf16* __restrict__ x, RowMax* __restrict__ out, int cols) {
  const bf16* row = x + static_cast<long long>(blockIdx.x) * cols;
  float best = -INFINITY;
  int best_index = 0x7fffffff;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float value = to_float(row[i]);
    if (better(value, i, best, best_index)) {
      best = value;
      best_index = i;
    }
  }
  __shared__ float values[kThreads];
  __shared__ int indices[kThreads];
  values[threadIdx.x] = best;
  indices[threadIdx.x] = best_index;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      const int other = threadIdx.x + stride;
      if (better(values[other], indices[other], values[threadIdx.x], indices[threadIdx.x])) {
        values[threadIdx.x] = values[other];
        indices[threadIdx.x] = indices[other];
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = RowMax{values[0], indices[0]};
}

}  // namespace

void max_rows(const void* x, RowMax* out, long long rows, int cols, cudaStream_t stream) {
  if (rows == 0) return;
  max_rows_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(x), out, cols);
}

}  // namespace llmpi::kernels
