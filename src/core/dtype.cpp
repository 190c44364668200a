#include "llmpi/core/dtype.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "llmpi/core/error.hpp"

namespace llmpi {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return 4;
    case DType::f16:
    case DType::bf16:
      return 2;
    case DType::e4m3:
      return 1;
  }
  throw Error("dtype_size: unknown dtype");
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::e4m3:
      return "F8_E4M3";
  }
  return "?";
}

std::uint16_t f32_to_bf16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>((bits + rounding) >> 16);
}

float e4m3_to_f32(std::uint8_t bits) {
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  float magnitude;
  if (exponent == 0xf && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {  // subnormal: mantissa * 2^-9
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  } else {  // (1 + mantissa / 8) * 2^(exponent - 7)
    magnitude = std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);
  }
  return (bits & 0x80) != 0 ? -magnitude : magnitude;
}

std::optional<std::uint8_t> f32_to_e4m3_exact(float value) {
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  if (std::isnan(value)) return static_cast<std::uint8_t>(sign | 0x7f);
  const float magnitude = std::fabs(value);
  if (magnitude == 0.0f) return sign;
  if (!(magnitude <= 448.0f)) return std::nullopt;
  int exponent = 0;
  std::frexp(magnitude, &exponent);              // magnitude = m 2^exponent, m in [0.5, 1)
  const int biased = std::max(exponent + 6, 0);  // 0: a subnormal, in steps of 2^-9
  const float steps = std::ldexp(magnitude, biased == 0 ? 9 : 10 - biased);
  const float mantissa = biased == 0 ? steps : steps - 8.0f;
  if (mantissa != std::floor(mantissa) || mantissa < 0.0f || mantissa > 7.0f) return std::nullopt;
  return static_cast<std::uint8_t>(sign | (biased << 3) | static_cast<int>(mantissa));
}

float f16_to_f32(std::uint16_t bits) {
  const std::uint32_t sign = (bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  std::uint32_t out;
  if (exponent == 0) {
    if (mantissa == 0) {
      out = sign;
    } else {  // subnormal: value = mantissa * 2^-24, exact in fp32
      const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
      std::memcpy(&out, &magnitude, sizeof out);
      out |= sign;
    }
  } else if (exponent == 0x1f) {
    out = sign | 0x7f800000u | (mantissa << 13);
  } else {
    out = sign | ((exponent + 112u) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &out, sizeof value);
  return value;
}

std::uint16_t f32_to_f16(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>(sign | 0x7e00u);
  if (magnitude >= 65520.0f) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (magnitude < 6.103515625e-05f) {  // subnormal range: quantum 2^-24
    const float scaled = std::nearbyint(magnitude * 16777216.0f);
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(scaled));
  }
  const std::uint32_t abs_bits = bits & 0x7fffffffu;
  const std::uint32_t rounding = 0xfffu + ((abs_bits >> 13) & 1u);
  const std::uint32_t rounded = abs_bits + rounding;
  return static_cast<std::uint16_t>(sign | ((rounded >> 13) - (112u << 10)));
}

namespace {

#if defined(__x86_64__)
// Eight halves at a time through F16C, where the CPU has it (checked once, at run time).
__attribute__((target("avx,f16c"))) void f16_to_f32_f16c(const std::byte* src, std::size_t count,
                                                         float* dst) {
  std::size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(half));
  }
  for (; i < count; ++i) {
    std::uint16_t bits;
    std::memcpy(&bits, src + 2 * i, 2);
    dst[i] = f16_to_f32(bits);
  }
}

bool has_f16c() {
  static const bool supported = __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c");
  return supported;
}
#endif

}  // namespace

void convert_to_f32(DType dtype, const std::byte* src, std::size_t count, float* dst) {
  switch (dtype) {
    case DType::f32:
      std::memcpy(dst, src, count * sizeof(float));
      return;
    case DType::bf16:
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        dst[i] = bf16_to_f32(bits);
      }
      return;
    case DType::f16:
#if defined(__x86_64__)
      if (has_f16c()) {
        f16_to_f32_f16c(src, count, dst);
        return;
      }
#endif
      for (std::size_t i = 0; i < count; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        dst[i] = f16_to_f32(bits);
      }
      return;
    case DType::e4m3:
      for (std::size_t i = 0; i < count; ++i)
        dst[i] = e4m3_to_f32(std::to_integer<std::uint8_t>(src[i]));
      return;
  }
}

}  // namespace llmpi
