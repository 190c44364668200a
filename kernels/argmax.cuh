// Row-wise maximum and its index (lowest index on ties, as torch.argmax) for greedy sampling.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

struct RowMax {
  float value;
  int index;
};

void max_rows(const void* x, RowMax* out, long long rows, int cols, cudaStream_t stream);

}  // namespace llmpi::kernels
