// Row-wise argmax (lowest index on ties, as torch.argmax) for greedy sampling.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

void argmax_rows(const void* x, int* out, long long rows, int cols, cudaStream_t stream);

}  // namespace llmpi::kernels
