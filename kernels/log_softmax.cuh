// Per-row log-softmax summaries for scoring: what a vocabulary-parallel rank needs to give
// log p(target) without the logits leaving the GPU.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

struct RowLogSoftmax {
  float max;      // largest logit of the row
  float sum_exp;  // sum of exp(logit - max) over the row
  float target;   // the target column's logit; 0 where the target is outside the row
};

// x: [rows, cols] bf16; targets: one column index per row (device memory).
void log_softmax_rows(const void* x, const int* targets, RowLogSoftmax* out, long long rows,
                      int cols, cudaStream_t stream);

}  // namespace llmpi::kernels
