#include "common.cuh"
#include "norm.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

// One block per row; the row is read twice from global memory (L2-resident at these sizes)
// rather than held in registers, so any hidden size works. With `delta`, the row is first
// x += delta (rounded to bf16, as the add kernel does) and written back: each thread re-reads
// only the elements it wrote itself.
__device__ __forceinline__ float load_adding(bf16* x, const bf16* delta, int i) {
  if (delta == nullptr) return to_float(x[i]);
  const bf16 sum = to_bf16(to_float(x[i]) + to_float(delta[i]));
  x[i] = sum;
  return to_float(sum);
}

__global__ void rms_norm_kernel(bf16* __restrict__ x, const bf16* __restrict__ delta,
                                const bf16* __restrict__ weight, bf16* __restrict__ out, int cols,
                                float eps, bool eps_on_root) {
  bf16* in = x + static_cast<long long>(blockIdx.x) * cols;
  const bf16* add = delta == nullptr ? nullptr : delta + static_cast<long long>(blockIdx.x) * cols;
  bf16* y = out + static_cast<long long>(blockIdx.x) * cols;
  float sum_squares = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float v = load_adding(in, add, i);
    sum_squares += v * v;
  }
  const float mean_square = block_sum(sum_squares) / static_cast<float>(cols);
  const float scale = eps_on_root ? 1.0f / (sqrtf(mean_square) + eps) : rsqrtf(mean_square + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    // transformers rounds the normalised value to the storage dtype before the weight multiply
    y[i] = to_bf16(to_float(weight[i]) * to_float(to_bf16(to_float(in[i]) * scale)));
  }
}

__global__ void layer_norm_kernel(bf16* __restrict__ x, const bf16* __restrict__ delta,
                                  const bf16* __restrict__ weight, const bf16* __restrict__ bias,
                                  bf16* __restrict__ out, int cols, float eps) {
  bf16* in = x + static_cast<long long>(blockIdx.x) * cols;
  const bf16* add = delta == nullptr ? nullptr : delta + static_cast<long long>(blockIdx.x) * cols;
  bf16* y = out + static_cast<long long>(blockIdx.x) * cols;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) sum += load_adding(in, add, i);
  const float mean = block_sum(sum) / static_cast<float>(cols);
  float squares = 0.0f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float centered = to_float(in[i]) - mean;
    squares += centered * centered;
  }
  const float inv_std = rsqrtf(block_sum(squares) / static_cast<float>(cols) + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    y[i] = to_bf16((to_float(in[i]) - mean) * inv_std * to_float(weight[i]) + to_float(bias[i]));
  }
}

}  // namespace

void rms_norm(void* x, const void* delta, const void* weight, void* out, long long rows, int cols,
              float eps, bool eps_on_root, cudaStream_t stream) {
  if (rows == 0) return;
  rms_norm_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<bf16*>(x), static_cast<const bf16*>(delta), static_cast<const bf16*>(weight),
      static_cast<bf16*>(out), cols, eps, eps_on_root);
}

void layer_norm(void* x, const void* delta, const void* weight, const void* bias, void* out,
                long long rows, int cols, float eps, cudaStream_t stream) {
  if (rows == 0) return;
  layer_norm_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<bf16*>(x), static_cast<const bf16*>(delta), static_cast<const bf16*>(weight),
      static_cast<const bf16*>(bias), static_cast<bf16*>(out), cols, eps);
}

}  // namespace llmpi::kernels
