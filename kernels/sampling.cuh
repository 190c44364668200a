// Nucleus sampling's passes over a row's logits (the numbers of sampling_math.hpp): the radix
// selection's mass histogram and the Gumbel-max draw over the nucleus.
#pragma once

#include <cuda_runtime_api.h>

#include "argmax.cuh"

namespace llmpi::kernels {

// histogram [rows, 256]: must be zeroed before; row r adds the fixed-point masses of its columns
// whose sortable key starts with prefix[r]'s first prefix_bits bits, binned by the next 8.
void mass_histogram(const void* logits, const float* row_max, float inv_temperature,
                    const unsigned int* prefix, int prefix_bits, unsigned long long* histogram,
                    long long rows, int cols, cudaStream_t stream);

// out[r]: the column with the largest Gumbel key among those whose sortable key is at least
// threshold[r] (-inf and column 0 where none is).
void gumbel_max_rows(const void* logits, const float* row_max, float inv_temperature,
                     const unsigned int* threshold, const unsigned long long* seeds,
                     long long first_column, RowMax* out, long long rows, int cols,
                     cudaStream_t stream);

}  // namespace llmpi::kernels
