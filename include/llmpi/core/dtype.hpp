#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace llmpi {

// Element types llmpi keeps tensors in: those of the checkpoints it reads, and FP8 E4M3 (the
// OCP "e4m3fn" format) for the operands of FP8 GEMMs on backends that run them.
enum class DType { f32, f16, bf16, e4m3 };

std::size_t dtype_size(DType dtype);
std::string_view dtype_name(DType dtype);

// bf16 is the upper half of an fp32: widening is exact.
inline float bf16_to_f32(std::uint16_t bits) {
  const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

// Round to nearest even, NaN kept quiet: what torch does when casting to bfloat16.
std::uint16_t f32_to_bf16(float value);

float f16_to_f32(std::uint16_t bits);
std::uint16_t f32_to_f16(float value);

// E4M3: sign, 4 exponent bits (bias 7), 3 mantissa bits; no infinities, S.1111.111 is NaN.
// Widening is exact.
float e4m3_to_f32(std::uint8_t bits);
// The bits of `value`, which must be an E4M3 value (finite, |value| <= 448, on the format's
// grid, or NaN); nullopt where it is not: rounding is the caller's (round_to_e4m3).
std::optional<std::uint8_t> f32_to_e4m3_exact(float value);

// Converts `count` elements stored as `dtype` at `src` (any alignment) to fp32.
void convert_to_f32(DType dtype, const std::byte* src, std::size_t count, float* dst);

}  // namespace llmpi
