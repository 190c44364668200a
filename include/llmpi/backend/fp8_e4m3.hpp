#pragma once

#include "llmpi/backend/host_device.hpp"

namespace llmpi {

// FP8 E4M3 as Transformer Engine runs Evo 2's input projections (docs/evo2.md, "FP8 input
// projections"): the OCP "e4m3fn" format, 4 exponent and 3 mantissa bits, no infinities,
// largest finite value 448, smallest subnormal 2^-9. Values are carried in wider types (every
// E4M3 value is exact in bf16, fp16 and fp32), so only the rounding is emulated.
inline constexpr float kE4m3Max = 448.0f;

// The E4M3 value nearest x, ties to even, saturated to +-448 as TE's casts are
// (__NV_SATFINITE); NaN stays NaN.
float round_to_e4m3(float x);

// TE's per-tensor scale for values of largest magnitude amax: 448 / amax (margin 0), in fp32.
// 1 where amax is 0 or not finite: TE then keeps its previous scale, and its first is 1.
// Shared with kernels/fp8.cu, so both backends scale alike.
LLMPI_HOST_DEVICE inline float e4m3_scale(float amax) {
  constexpr float kLargestFloat = 3.40282347e38f;
  return amax > 0.0f && amax <= kLargestFloat ? kE4m3Max / amax : 1.0f;  // NaN fails both
}

}  // namespace llmpi
