#include "common.cuh"
#include "llmpi/backend/sampling_math.hpp"
#include "sampling.cuh"

namespace llmpi::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kColumnsPerBlock = 4096;

// Grid (column blocks, rows). Integer masses: the atomics' order cannot change the sums.
__global__ void mass_histogram_kernel(const bf16* __restrict__ logits,
                                      const float* __restrict__ row_max, float inv_temperature,
                                      const unsigned int* __restrict__ prefix, int prefix_bits,
                                      unsigned long long* __restrict__ histogram, int cols) {
  __shared__ unsigned long long bins[sampling::kBins];
  for (int b = threadIdx.x; b < sampling::kBins; b += blockDim.x) bins[b] = 0;
  __syncthreads();
  const long long row = blockIdx.y;
  const bf16* values = logits + row * cols;
  const float top = row_max[row];
  const unsigned int wanted = prefix[row];
  const int begin = blockIdx.x * kColumnsPerBlock;
  const int end = min(cols, begin + kColumnsPerBlock);
  for (int i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float value = to_float(values[i]);
    const unsigned int key = sampling::sortable_key(value);
    if (!sampling::has_prefix(key, wanted, prefix_bits)) continue;
    atomicAdd(&bins[sampling::bin_of(key, prefix_bits)],
              static_cast<unsigned long long>(sampling::fixed_mass(value, top, inv_temperature)));
  }
  __syncthreads();
  for (int b = threadIdx.x; b < sampling::kBins; b += blockDim.x) {
    if (bins[b] != 0) atomicAdd(&histogram[row * sampling::kBins + b], bins[b]);
  }
}

// One block per row.
__global__ void gumbel_max_rows_kernel(const bf16* __restrict__ logits,
                                       const float* __restrict__ row_max, float inv_temperature,
                                       const unsigned int* __restrict__ threshold,
                                       const unsigned long long* __restrict__ seeds,
                                       long long first_column, RowMax* __restrict__ out, int cols) {
  const long long row = blockIdx.x;
  const bf16* values = logits + row * cols;
  const float top = row_max[row];
  const unsigned int lowest = threshold[row];
  const unsigned long long seed = seeds[row];
  float best = -INFINITY;
  int best_index = 0x7fffffff;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const float value = to_float(values[i]);
    if (sampling::sortable_key(value) < lowest) continue;
    const float key = sampling::gumbel_key(value, top, inv_temperature,
                                           sampling::uniform_noise(seed, first_column + i));
    if (better(key, i, best, best_index)) {
      best = key;
      best_index = i;
    }
  }
  block_arg_max<kThreads>(best, best_index);
  if (threadIdx.x == 0) out[row] = RowMax{best, best == -INFINITY ? 0 : best_index};
}

}  // namespace

void mass_histogram(const void* logits, const float* row_max, float inv_temperature,
                    const unsigned int* prefix, int prefix_bits, unsigned long long* histogram,
                    long long rows, int cols, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const dim3 grid(blocks_for(cols, kColumnsPerBlock), static_cast<unsigned int>(rows));
  mass_histogram_kernel<<<grid, kThreads, 0, stream>>>(static_cast<const bf16*>(logits), row_max,
                                                       inv_temperature, prefix, prefix_bits,
                                                       histogram, cols);
}

void gumbel_max_rows(const void* logits, const float* row_max, float inv_temperature,
                     const unsigned int* threshold, const unsigned long long* seeds,
                     long long first_column, RowMax* out, long long rows, int cols,
                     cudaStream_t stream) {
  if (rows == 0) return;
  gumbel_max_rows_kernel<<<static_cast<unsigned int>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(logits), row_max, inv_temperature, threshold, seeds, first_column,
      out, cols);
}

}  // namespace llmpi::kernels
