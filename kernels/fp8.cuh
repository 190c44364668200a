// FP8 E4M3 quantisation of bf16 activations with Transformer Engine's per-tensor scaling
// (Backend::quantize_e4m3, include/llmpi/backend/fp8_e4m3.hpp), and the row scaling of an FP8
// GEMM's output. The casts are CUDA's own (__nv_fp8_e4m3: round to nearest even, saturating),
// the ones TE uses.
#pragma once

#include <cuda_runtime_api.h>

namespace llmpi::kernels {

// quantized[r, c] = e4m3(x[r, c] * s_r), s_r = 448 / amax (1 where amax is 0 or not finite),
// amax over row r (per_row) or over all rows; inverse_scales[r] (fp32) = 1 / s_r. `quantized`
// holds E4M3 bytes (e4m3_out: an FP8 GEMM's input) or the same values in bf16.
void quantize_e4m3(const void* x, void* quantized, float* inverse_scales, long long rows,
                   long long cols, bool per_row, bool e4m3_out, cudaStream_t stream);

// x[r, c] *= factors[r] * common (fp32 factors, bf16 x).
void scale_rows(void* x, const float* factors, float common, long long rows, long long cols,
                cudaStream_t stream);

}  // namespace llmpi::kernels
