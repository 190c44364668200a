#include <cuda_fp8.h>

#include "common.cuh"
#include "fp8.cuh"
#include "llmpi/backend/fp8_e4m3.hpp"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;

// One block per row: the row's largest |x| into amax[row] (fmaxf skips NaN, as TE's amax).
__global__ void row_amax_kernel(const bf16* x, float* amax, long long cols) {
  const bf16* row = x + blockIdx.x * cols;
  float local = 0.0f;
  for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
    local = fmaxf(local, fabsf(to_float(row[c])));
  }
  local = block_max(local);
  if (threadIdx.x == 0) amax[blockIdx.x] = local;
}

// One block: every row's amax replaced by the largest of them (one scale for the tensor).
__global__ void tensor_amax_kernel(float* amax, long long rows) {
  float local = 0.0f;
  for (long long r = threadIdx.x; r < rows; r += blockDim.x) local = fmaxf(local, amax[r]);
  local = block_max(local);
  for (long long r = threadIdx.x; r < rows; r += blockDim.x) amax[r] = local;
}

__device__ void store(__nv_fp8_e4m3* out, __nv_fp8_e4m3 value) {
  *out = value;
}
__device__ void store(bf16* out, __nv_fp8_e4m3 value) {
  *out = to_bf16(static_cast<float>(value));  // every E4M3 value is exact in bf16
}

// One block per row: reads the row's amax from `scales`, writes the quantized row, then
// replaces the amax by the inverse scale (only this block reads that entry).
template <typename Out>
__global__ void quantize_row_kernel(const bf16* x, Out* quantized, float* scales, long long cols) {
  const float amax = scales[blockIdx.x];
  const float scale = e4m3_scale(amax);
  const bf16* in = x + blockIdx.x * cols;
  Out* out = quantized + blockIdx.x * cols;
  for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
    store(out + c, __nv_fp8_e4m3(to_float(in[c]) * scale));
  }
  __syncthreads();
  if (threadIdx.x == 0) scales[blockIdx.x] = 1.0f / scale;
}

__global__ void scale_rows_kernel(bf16* x, const float* factors, float common, long long count,
                                  long long cols) {
  const long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (i >= count) return;
  x[i] = to_bf16(to_float(x[i]) * (factors[i / cols] * common));
}

}  // namespace

void quantize_e4m3(const void* x, void* quantized, float* inverse_scales, long long rows,
                   long long cols, bool per_row, bool e4m3_out, cudaStream_t stream) {
  if (rows == 0) return;
  const auto blocks = static_cast<unsigned int>(rows);
  const auto* in = static_cast<const bf16*>(x);
  row_amax_kernel<<<blocks, kThreads, 0, stream>>>(in, inverse_scales, cols);
  if (!per_row) tensor_amax_kernel<<<1, 1024, 0, stream>>>(inverse_scales, rows);
  if (e4m3_out) {
    quantize_row_kernel<<<blocks, kThreads, 0, stream>>>(in, static_cast<__nv_fp8_e4m3*>(quantized),
                                                         inverse_scales, cols);
  } else {
    quantize_row_kernel<<<blocks, kThreads, 0, stream>>>(in, static_cast<bf16*>(quantized),
                                                         inverse_scales, cols);
  }
}

void scale_rows(void* x, const float* factors, float common, long long rows, long long cols,
                cudaStream_t stream) {
  const long long count = rows * cols;
  if (count == 0) return;
  scale_rows_kernel<<<blocks_for(count, kThreads), kThreads, 0, stream>>>(
      static_cast<bf16*>(x), factors, common, count, cols);
}

}  // namespace llmpi::kernels
