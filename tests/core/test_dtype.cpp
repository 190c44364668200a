#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>

#include "llmpi/core/dtype.hpp"

using namespace llmpi;

TEST_CASE("bf16 round-trips and rounds to nearest even", "[core]") {
  for (float value : {0.0f, -0.0f, 1.0f, -2.5f, 3.140625f, 1e-30f, 6.5e4f, 1e38f}) {
    CHECK(bf16_to_f32(f32_to_bf16(value)) == Approx(value).epsilon(1.0 / 128));
  }
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  // 1 + 2^-8 lies halfway between two bf16 values: ties go to the even mantissa (1.0).
  CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80);
  CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isinf(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::infinity()))));
}

TEST_CASE("f16 conversions are exact where f16 can represent the value", "[core]") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  CHECK(std::isnan(f16_to_f32(0x7e00)));
  for (std::uint32_t bits = 0; bits < 0x7c00; ++bits) {  // every finite positive f16
    const auto h = static_cast<std::uint16_t>(bits);
    REQUIRE(f32_to_f16(f16_to_f32(h)) == h);
  }
  CHECK(f32_to_f16(1e6f) == 0x7c00);
}

TEST_CASE("convert_to_f32 reads unaligned little-endian storage", "[core]") {
  const std::uint16_t values[] = {0x3f80, 0xc000};  // bf16 1.0, -2.0
  std::byte buffer[5];
  std::memcpy(buffer + 1, values, sizeof values);
  float out[2];
  convert_to_f32(DType::bf16, buffer + 1, 2, out);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == -2.0f);
}

TEST_CASE("E4M3 is one byte a value, widened exactly", "[core]") {
  CHECK(dtype_size(DType::e4m3) == 1);
  CHECK(dtype_name(DType::e4m3) == "F8_E4M3");
  // 1.0, 448 (the largest), 2^-9 (the smallest subnormal), -1.5, -0.
  const std::uint8_t codes[] = {0x38, 0x7e, 0x01, 0xbc, 0x80};
  float out[5];
  convert_to_f32(DType::e4m3, reinterpret_cast<const std::byte*>(codes), 5, out);
  CHECK(out[0] == 1.0f);
  CHECK(out[1] == 448.0f);
  CHECK(out[2] == std::ldexp(1.0f, -9));
  CHECK(out[3] == -1.5f);
  CHECK((out[4] == 0.0f && std::signbit(out[4])));
}
