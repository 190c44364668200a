#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#include "reference_fixture.hpp"
#include "tiny_eval_model.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
using llmpi::testing::fixtures_dir;
using llmpi::testing::read_text;

namespace {

// A tiny byte-level BPE tokenizer.json in the GPT-2 style, written here so the unit tests
// need no downloaded files: vocabulary of the 256 byte characters plus a few merges.
std::string tiny_byte_level_json() {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[llmpi::testing::gpt2_byte_character(b)] = id++;
  vocab
      ["h"
       "e"] = id++;
  vocab
      ["\xc4\xa0"
       "w"] = id++;
  vocab
      ["he"
       "llo"] = id++;
  vocab
      ["l"
       "l"] = id++;
  vocab
      ["ll"
       "o"] = id++;
  nlohmann::json json = {
      {"version", "1.0"},
      {"added_tokens",
       {{{"id", 200},
         {"content", "<|end|>"},
         {"special", true},
         {"normalized", false},
         {"lstrip", false},
         {"rstrip", false},
         {"single_word", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", {"h e", "l l", "ll o", "he llo", "\xc4\xa0 w"}}}}};
  return json.dump();
}

}  // namespace

TEST_CASE("byte-level BPE merges, added tokens and decoding", "[tokenizer]") {
  const auto tokenizer = parse_hf_tokenizer(tiny_byte_level_json(), "tiny/tokenizer.json");
  const auto hello = *tokenizer->token_to_id("hello");
  const auto space_w = *tokenizer->token_to_id("\xc4\xa0w");
  const auto ids = tokenizer->encode("hello world<|end|>", false);
  REQUIRE(ids.size() >= 3);
  CHECK(ids.front() == hello);
  CHECK(ids[1] == space_w);
  CHECK(ids.back() == 200);
  CHECK(tokenizer->decode(ids, false) == "hello world<|end|>");
  CHECK(tokenizer->decode(ids, true) == "hello world");
  CHECK(tokenizer->is_special(200));
}

TEST_CASE("invalid UTF-8 input is refused with its byte offset", "[tokenizer][bad-input]") {
  const auto tokenizer = parse_hf_tokenizer(tiny_byte_level_json(), "tiny/tokenizer.json");
  CHECK_THROWS_WITH(tokenizer->encode("ab\xff"
                                      "cd",
                                      false),
                    Contains("not valid UTF-8") && Contains("0xff") && Contains("byte offset 2"));
  CHECK_THROWS_WITH(tokenizer->encode("\xe2\x82", false), Contains("byte offset 0"));
  CHECK_THROWS_WITH(tokenizer->encode("\xed\xa0\x80", false),
                    Contains("not valid UTF-8"));  // surrogate
}

TEST_CASE("malformed tokenizer.json files are refused clearly", "[tokenizer][bad-input]") {
  CHECK_THROWS_WITH(parse_hf_tokenizer("{\"model\": ", "m/tokenizer.json"),
                    Contains("m/tokenizer.json") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse_hf_tokenizer("{\"version\": \"1.0\"}", "m/tokenizer.json"),
                    Contains("missing 'model'"));
  CHECK_THROWS_WITH(
      parse_hf_tokenizer(R"({"model": {"type": "WordPiece", "vocab": {}}})", "m/tokenizer.json"),
      Contains("model type 'WordPiece' is not implemented"));
  CHECK_THROWS_WITH(
      parse_hf_tokenizer(R"({"model": {"type": "BPE", "merges": []}})", "m/tokenizer.json"),
      Contains("no vocab"));
  CHECK_THROWS_WITH(parse_hf_tokenizer(R"({"model": {"type": "BPE", "vocab": {"a": 0},
    "merges": ["a b"]}})",
                                       "m/tokenizer.json"),
                    Contains("merge 'a b' uses tokens missing from the vocab"));
  CHECK_THROWS_WITH(parse_hf_tokenizer(R"({"model": {"type": "BPE", "vocab": {"a": 0}},
    "normalizer": {"type": "NFKC"}})",
                                       "m/tokenizer.json"),
                    Contains("normalizer type 'NFKC' is not implemented"));
  CHECK_THROWS_WITH(
      parse_hf_tokenizer("{\"model\": " + std::string(200000, '{'), "m/tokenizer.json"),
      Contains("m/tokenizer.json: JSON nested more than 128 levels deep"));
  llmpi::testing::TempDir empty("no-tokenizer");
  CHECK_THROWS_WITH(load_tokenizer(empty.path()), Contains("no tokenizer.json or tokenizer.model"));
}

TEST_CASE("the incremental decoder never emits half a character", "[tokenizer]") {
  const auto tokenizer = parse_hf_tokenizer(tiny_byte_level_json(), "tiny/tokenizer.json");
  // "é" is two bytes: two byte-level tokens, each alone invalid UTF-8.
  const auto ids = tokenizer->encode("h\xc3\xa9llo", false);
  IncrementalDecoder decoder(*tokenizer);
  std::string streamed;
  for (const auto id : ids) {
    const std::string piece = decoder.push(id);
    CHECK(piece.find("\xef\xbf\xbd") == std::string::npos);
    streamed += piece;
  }
  streamed += decoder.flush();
  CHECK(streamed == "h\xc3\xa9llo");
}

TEST_CASE("a word of 100000 letters encodes in well under a second, as Hugging Face does",
          "[tokenizer][bad-input]") {
  // scripts/make_long_word_fixture.py: the word's recipe and HF tokenizers' ids for it.
  const auto expected =
      nlohmann::json::parse(read_text(fixtures_dir() / "tokenizers" / "long_word.expected.json"));
  std::uint64_t x = expected.at("seed").get<std::uint64_t>();
  std::string word;
  for (int i = 0; i < expected.at("letters").get<int>(); ++i) {
    x = (x * 1103515245 + 12345) % (std::uint64_t{1} << 31);
    word += static_cast<char>('a' + (x >> 16) % 26);
  }
  const auto tokenizer = load_tokenizer(fixtures_dir() / "tokenizers" / "falcon_style");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::int32_t> ids = tokenizer->encode(word, false);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t hash = 1469598103934665603ull;
  for (const std::int32_t id : ids) {
    for (int shift = 0; shift < 32; shift += 8) {
      hash = (hash ^ ((static_cast<std::uint32_t>(id) >> shift) & 0xff)) * 1099511628211ull;
    }
  }
  INFO("encoded in " << seconds << " s (HF: " << expected.at("hf_seconds") << " s)");
  CHECK(ids.size() == expected.at("count").get<std::size_t>());
  CHECK(std::to_string(hash) == expected.at("fnv1a64").get<std::string>());
  CHECK(std::vector<std::int32_t>(ids.begin(), ids.begin() + 32) ==
        expected.at("first").get<std::vector<std::int32_t>>());
  CHECK(seconds < 1.0);
}
