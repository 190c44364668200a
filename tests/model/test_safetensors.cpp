#include <catch2/catch.hpp>
#include <cstring>

#include "checkpoint_writer.hpp"
#include "llmpi/config/model_config.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/model/checkpoint.hpp"
#include "llmpi/model/model_weights.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;
using Catch::Matchers::Contains;

namespace {
RawTensor f32_tensor(const std::string& name, std::vector<std::int64_t> shape,
                     const std::vector<float>& values) {
  RawTensor t{name, "F32", std::move(shape), std::vector<std::byte>(values.size() * 4)};
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}
}  // namespace

TEST_CASE("a valid file is read back with shapes, dtypes and values", "[model][safetensors]") {
  TempDir temp("safetensors-valid");
  const auto path = temp.path() / "model.safetensors";
  RawTensor half{
      "h", "F16", {2}, {std::byte{0x00}, std::byte{0x3c}, std::byte{0x00}, std::byte{0xc0}}};
  write_safetensors(path, {f32_tensor("a", {2, 3}, {1, 2, 3, 4, 5, 6}), half,
                           RawTensor{"empty", "F32", {0, 4}, {}}});
  const SafetensorsFile file(path);
  REQUIRE(file.tensors().size() == 3);
  REQUIRE(file.find("a") != nullptr);
  CHECK(file.find("a")->shape == std::vector<std::int64_t>{2, 3});
  CHECK(file.find("missing") == nullptr);

  const Checkpoint checkpoint(temp.path());
  const std::vector<std::int64_t> shape = {2, 3};
  CHECK(checkpoint.read("a", shape) == std::vector<float>{1, 2, 3, 4, 5, 6});
  const std::vector<std::int64_t> half_shape = {2};
  CHECK(checkpoint.read("h", half_shape) == std::vector<float>{1.0f, -2.0f});
}

TEST_CASE("offsets before their start and shape/size mismatches are refused",
          "[model][safetensors][bad-input]") {
  TempDir temp("safetensors-bad");
  const auto path = temp.path() / "x.safetensors";
  auto write = [&](const std::string& header, std::size_t data) {
    write_raw_safetensors(path, header, data, header.size());
  };
  write(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("tensor 'a'") && Contains("end before"));
  write(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("needs 12 bytes") && Contains("span 8"));
  write(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("non-negative integers"));
  write(R"([1,2])", 0);
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("must be a JSON object"));
  write_text(path, "abc");
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("too short"));
  // Sizes that would wrap around 2^64 are said as such, never as a wrapped number.
  write(R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path), Contains("more elements than any file can hold") &&
                                               !Contains("18446744073709551612"));
  write(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path),
                    Contains("needs 2^64 bytes or more") && Contains("span 8"));
  write(R"({"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8);
  CHECK_THROWS_WITH(SafetensorsFile(path), !Contains("-9223372036854775808"));
}

TEST_CASE("a directory with no safetensors file is refused", "[model][bad-input]") {
  TempDir temp("no-weights");
  CHECK_THROWS_WITH(Checkpoint(temp.path()),
                    Contains("no model.safetensors or model.safetensors.index.json"));
}

TEST_CASE("Falcon's grouped query_key_value is reordered to [q | k | v] by KV group", "[model]") {
  ModelConfig c;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.qkv_layout = QkvLayout::falcon_grouped;
  // Checkpoint blocks: group 0 = q0 q1 k0 v0 (0..3), group 1 = q2 q3 k1 v1 (4..7).
  CHECK(falcon_qkv_block_order(c) == std::vector<int>{0, 1, 4, 5, 2, 6, 3, 7});
  c.qkv_layout = QkvLayout::falcon_interleaved;
  c.num_kv_heads = 4;
  // Per head q k v: q0 k0 v0 q1 k1 v1 ...
  CHECK(falcon_qkv_block_order(c) == std::vector<int>{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
}
