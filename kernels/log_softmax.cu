#include "common.cuh"
#include "log_softmax.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

// One block per row: the maximum, then the sum of exponentials relative to it (fp32).
__global__ void log_softmax_rows_kernel(const bf16* __restrict__ x, const int* __restrict__ targets,
                                        RowLogSoftmax* __restrict__ out, int cols) {
  const bf16* row = x + static_cast<long long>(blockIdx.x) * cols;
  float local_max = -INFINITY;
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    local_max = fmaxf(local_max, to_float(row[i]));
  const float row_max = block_max(local_max);
  float local_sum = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x)
    local_sum += __expf(to_float(row[i]) - row_max);
  const float sum = block_sum(local_sum);
  if (threadIdx.x == 0) {
    const int target = targets[blockIdx.x];
    out[blockIdx.x] =
        RowLogSoftmax{row_max, sum, target >= 0 && target < cols ? to_float(row[target]) : 0.0f};
  }
}

}  // namespace

void log_softmax_rows(const void* x, const int* targets, RowLogSoftmax* out, long long rows,
                      int cols, cudaStream_t stream) {
  if (rows == 0) return;
  log_softmax_rows_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(x), targets, out, cols);
}

}  // namespace llmpi::kernels
