#include "argmax.cuh"
#include "common.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

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
  block_arg_max<kThreads>(best, best_index);
  if (threadIdx.x == 0) out[blockIdx.x] = RowMax{best, best_index};
}

}  // namespace

void max_rows(const void* x, RowMax* out, long long rows, int cols, cudaStream_t stream) {
  if (rows == 0) return;
  max_rows_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(x), out, cols);
}

}  // namespace llmpi::kernels
