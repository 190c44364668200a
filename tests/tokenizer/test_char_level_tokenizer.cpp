// Evo 2's CharLevelTokenizer as vtx's vortex/model/tokenizer.py runs it: a token per byte,
// decoding each id as the character of that code point clamped to [32, vocab size].
#include <catch2/catch.hpp>

#include "llmpi/tokenizer/tokenizer.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using llmpi::testing::fixtures_dir;

TEST_CASE("Evo 2's byte tokenizer: ids are the bytes, decoding clamps as vtx does",
          "[tokenizer][evo2]") {
  const auto tokenizer = load_tokenizer(fixtures_dir() / "evo2_tiny_f32");
  CHECK(tokenizer->vocab_size() == 512);
  CHECK(tokenizer->encode("ACGT", true) == std::vector<std::int32_t>{65, 67, 71, 84});
  CHECK(tokenizer->encode("é", false) == std::vector<std::int32_t>{0xc3, 0xa9});
  const std::vector<std::int32_t> ids{0, 65, 1, 84, 10};
  // vtx's detokenize: max(32, min(id, vocab)) as a character; 0 and 1 are special.
  CHECK(tokenizer->decode(ids, false) == " A T ");
  CHECK(tokenizer->decode(ids, true) == "AT ");
  CHECK(tokenizer->decode(std::vector<std::int32_t>{200}, false) == "\u00c8");
  CHECK_THROWS_WITH(tokenizer->encode("\xff", true), Catch::Contains("0"));
}
