// FP8 E4M3 rounding against PyTorch's float8_e4m3fn cast (tests/fixtures/fp8, made by
// scripts/make_fp8_fixture.py), and the CPU backend's quantize_e4m3 / scale_rows ops.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/backend/fp8_e4m3.hpp"
#include "llmpi/core/dtype.hpp"
#include "llmpi/core/error.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;

TEST_CASE("E4M3 rounding equals PyTorch's float8_e4m3fn cast, saturated", "[backend][fp8]") {
  std::ifstream file(testing::fixtures_dir() / "fp8" / "e4m3_rounding.json");
  REQUIRE(file);
  const auto table = nlohmann::json::parse(file);
  const auto inputs = table.at("inputs").get<std::vector<double>>();
  const auto expected = table.at("expected").get<std::vector<double>>();
  REQUIRE(inputs.size() == expected.size());
  REQUIRE(inputs.size() > 4000);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const float got = round_to_e4m3(static_cast<float>(inputs[i]));
    if (got != static_cast<float>(expected[i])) {
      ++wrong;
      UNSCOPED_INFO("x = " << inputs[i] << ": " << got << ", torch " << expected[i]);
    }
  }
  CHECK(wrong == 0);
  // What JSON cannot carry: infinities saturate, NaN stays NaN, the sign of zero is kept.
  CHECK(round_to_e4m3(std::numeric_limits<float>::infinity()) == 448.0f);
  CHECK(round_to_e4m3(-std::numeric_limits<float>::infinity()) == -448.0f);
  CHECK(std::isnan(round_to_e4m3(std::numeric_limits<float>::quiet_NaN())));
  CHECK(std::signbit(round_to_e4m3(-0.0f)));
}

TEST_CASE("E4M3 scales are 448 / amax, and 1 where amax is 0 or not finite", "[backend][fp8]") {
  CHECK(e4m3_scale(2.0f) == 224.0f);
  CHECK(e4m3_scale(0.0f) == 1.0f);
  CHECK(e4m3_scale(std::numeric_limits<float>::infinity()) == 1.0f);
  CHECK(e4m3_scale(std::numeric_limits<float>::quiet_NaN()) == 1.0f);
}

TEST_CASE("quantize_e4m3 scales per tensor or per row, and scale_rows undoes the scales",
          "[backend][fp8]") {
  CpuBackend backend;
  // Row 0's largest magnitude is 4, row 1's 0.5, row 2 is all zeros.
  const std::vector<float> values{1.0f, -4.0f, 0.3f, 0.1f, 0.5f, -0.2f, 0.0f, 0.0f, 0.0f};
  const Tensor x = backend.upload(values, 3, 3);
  for (const Fp8Scaling scaling : {Fp8Scaling::per_tensor, Fp8Scaling::per_row}) {
    Tensor quantized = backend.allocate(3, 3);
    Tensor inverse = backend.allocate_state(3, 1);
    backend.quantize_e4m3(x, scaling, quantized, inverse);
    const std::vector<float> q = backend.download(quantized);
    const std::vector<float> inv = backend.download(inverse);
    const bool per_row = scaling == Fp8Scaling::per_row;
    const float scales[3] = {448.0f / 4.0f, per_row ? 448.0f / 0.5f : 448.0f / 4.0f,
                             per_row ? 1.0f : 448.0f / 4.0f};
    for (int r = 0; r < 3; ++r) {
      CHECK(inv[static_cast<std::size_t>(r)] == 1.0f / scales[r]);
      for (int c = 0; c < 3; ++c) {
        const auto i = static_cast<std::size_t>(3 * r + c);
        CHECK(q[i] == round_to_e4m3(values[i] * scales[r]));
      }
    }
    // The row holding the amax maps it to exactly 448.
    CHECK(q[1] == -448.0f);
    backend.scale_rows(quantized, inverse, 1.0f);
    const std::vector<float> back = backend.download(quantized);
    for (std::size_t i = 0; i < values.size(); ++i) {
      // Three mantissa bits: within half a step, 1/16 of the value.
      CHECK(std::fabs(back[i] - values[i]) <= std::fabs(values[i]) / 16.0f);
    }
  }
  Tensor rows = backend.upload(std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}, 2, 2);
  backend.scale_rows(rows, backend.upload(std::vector<float>{2.0f, 0.5f}, 2, 1), 3.0f);
  CHECK(backend.download(rows) == std::vector<float>{6.0f, 12.0f, 4.5f, 6.0f});
}

TEST_CASE("quantize_e4m3 and scale_rows refuse scales that are not one per row", "[backend][fp8]") {
  CpuBackend backend;
  const Tensor x = backend.allocate(4, 8);
  Tensor quantized = backend.allocate(4, 8);
  Tensor wrong = backend.allocate_state(3, 1);
  CHECK_THROWS_WITH(backend.quantize_e4m3(x, Fp8Scaling::per_row, quantized, wrong),
                    Catch::Contains("quantize_e4m3") && Catch::Contains("one per row"));
  Tensor y = backend.allocate(4, 8);
  CHECK_THROWS_WITH(backend.scale_rows(y, wrong, 1.0f),
                    Catch::Contains("scale_rows") && Catch::Contains("one per row"));
}

TEST_CASE("E4M3 bytes decode to PyTorch's float8_e4m3fn values and encode back", "[backend][fp8]") {
  // Every value the fixture's casts produced is an E4M3 value, and every finite one is there
  // (the fixture's inputs start with all of them): that set is torch's decoding of the 256
  // codes. Ours must give the same set, increasing with the code on each sign, which pins
  // each code to its value.
  std::ifstream file(testing::fixtures_dir() / "fp8" / "e4m3_rounding.json");
  REQUIRE(file);
  const auto expected = nlohmann::json::parse(file).at("expected").get<std::vector<double>>();
  std::set<float> torch_values;
  for (const double v : expected) torch_values.insert(static_cast<float>(v));
  std::set<float> decoded;
  for (int code = 0; code < 256; ++code) {
    const auto bits = static_cast<std::uint8_t>(code);
    const float value = e4m3_to_f32(bits);
    if ((code & 0x7f) == 0x7f) {
      CHECK(std::isnan(value));
      continue;
    }
    decoded.insert(value);
    if (code >= 0x80) CHECK(value == -e4m3_to_f32(static_cast<std::uint8_t>(code - 0x80)));
    if (code >= 1 && code < 0x7f) CHECK(value > e4m3_to_f32(static_cast<std::uint8_t>(code - 1)));
    const auto encoded = f32_to_e4m3_exact(value);
    REQUIRE(encoded.has_value());
    CHECK(*encoded == bits);
  }
  CHECK(decoded == torch_values);
  CHECK(decoded.size() == 253);  // 256 codes, two NaNs, +0 and -0 one value
  // What is not an E4M3 value has no encoding; rounding first always gives one.
  for (const float off_grid :
       {0.3f, 449.0f, 480.0f, 1e-3f, std::numeric_limits<float>::infinity()}) {
    CHECK_FALSE(f32_to_e4m3_exact(off_grid).has_value());
    const auto rounded = f32_to_e4m3_exact(round_to_e4m3(off_grid));
    REQUIRE(rounded.has_value());
    CHECK(e4m3_to_f32(*rounded) == round_to_e4m3(off_grid));
  }
  CHECK(f32_to_e4m3_exact(std::numeric_limits<float>::quiet_NaN()) == std::uint8_t{0x7f});
}
