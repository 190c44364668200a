#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace llmpi {

// Element types of checkpoint tensors that llmpi computes with.
enum class DType { f32, f16, bf16 };

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

// Converts `count` elements stored as `dtype` at `src` (any alignment) to fp32.
void convert_to_f32(DType dtype, const std::byte* src, std::size_t count, float* dst);

}  // namespace llmpi
