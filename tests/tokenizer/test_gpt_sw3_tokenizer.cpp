// GPT-SW3's tokenizer against Hugging Face's GPTSw3Tokenizer on the fixtures written by
// scripts/make_gpt_sw3_tokenizer_fixture.py, and its parts (NFC, the text clean-up) alone.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "gpt_sw3_text.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"
#include "reference_fixture.hpp"
#include "unicode.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
using llmpi::testing::fixtures_dir;
using llmpi::testing::read_text;
using Json = nlohmann::json;

namespace {

const std::filesystem::path kFixtures = fixtures_dir() / "tokenizers";
const std::filesystem::path kModelDir = kFixtures / "gpt_sw3";

std::vector<Json> read_json_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::vector<Json> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(Json::parse(line));
  return rows;
}

std::string show(const std::vector<std::int32_t>& ids) {
  std::string text;
  for (std::size_t i = 0; i < ids.size() && i < 40; ++i)
    text += (i ? "," : "") + std::to_string(ids[i]);
  return "[" + text + (ids.size() > 40 ? ",...]" : "]");
}

// Compares encode (both ways) and decode (both ways) with one expected row; returns what
// differs, empty when nothing does.
std::string compare_row(const Tokenizer& tokenizer, const Json& row) {
  const auto text = row.at("text").get<std::string>();
  const auto want = row.at("ids").get<std::vector<std::int32_t>>();
  const auto want_special = row.at("ids_special").get<std::vector<std::int32_t>>();
  const auto ids = tokenizer.encode(text, false);
  const auto ids_special = tokenizer.encode(text, true);
  const auto decoded = tokenizer.decode(want_special, false);
  const auto decoded_skip = tokenizer.decode(want_special, true);
  std::string problems;
  if (ids != want) problems += "\n  ids ours " + show(ids) + "\n      hf   " + show(want);
  if (ids_special != want_special)
    problems +=
        "\n  ids_special ours " + show(ids_special) + "\n              hf   " + show(want_special);
  if (decoded != row.at("decoded").get<std::string>())
    problems +=
        "\n  decoded ours " + Json(decoded).dump() + "\n          hf   " + row.at("decoded").dump();
  if (decoded_skip != row.at("decoded_skip").get<std::string>()) {
    problems += "\n  decoded_skip ours " + Json(decoded_skip).dump() + "\n               hf   " +
                row.at("decoded_skip").dump();
  }
  return problems.empty() ? "" : Json(text).dump() + problems;
}

void write_json(const std::filesystem::path& path, const Json& json) {
  std::ofstream(path) << json.dump(2);
}

}  // namespace

TEST_CASE("GPT-SW3's tokenizer gives Hugging Face's ids and text on every corpus string",
          "[tokenizer][gpt-sw3]") {
  const auto tokenizer = load_tokenizer(kModelDir);
  const auto rows = read_json_lines(kFixtures / "gpt_sw3.expected.jsonl");
  REQUIRE(rows.size() >= 2000);
  std::size_t failures = 0;
  for (const Json& row : rows) {
    const std::string problem = compare_row(*tokenizer, row);
    if (!problem.empty() && ++failures <= 10) UNSCOPED_INFO(problem);
  }
  INFO(rows.size() << " strings, " << failures << " different");
  CHECK(failures == 0);
}

TEST_CASE("GPT-SW3's tokenizer streams text as it decodes it whole", "[tokenizer][gpt-sw3]") {
  const auto tokenizer = load_tokenizer(kModelDir);
  const auto rows = read_json_lines(kFixtures / "gpt_sw3.expected.jsonl");
  for (std::size_t i = 0; i < rows.size(); i += 7) {
    const auto ids = rows[i].at("ids").get<std::vector<std::int32_t>>();
    IncrementalDecoder decoder(*tokenizer);
    std::string streamed;
    for (const std::int32_t id : ids) streamed += decoder.push(id);
    streamed += decoder.flush();
    INFO("ids " << show(ids));
    CHECK(streamed == rows[i].at("decoded_skip").get<std::string>());
  }
}

TEST_CASE("GPT-SW3's tokenizer decodes any id list as Hugging Face does", "[tokenizer][gpt-sw3]") {
  const auto tokenizer = load_tokenizer(kModelDir);
  for (const Json& row : read_json_lines(kFixtures / "gpt_sw3_decode.expected.jsonl")) {
    const auto ids = row.at("ids").get<std::vector<std::int32_t>>();
    INFO("ids " << show(ids));
    CHECK(tokenizer->decode(ids, false) == row.at("decoded").get<std::string>());
    CHECK(tokenizer->decode(ids, true) == row.at("decoded_skip").get<std::string>());
  }
}

TEST_CASE("GPT-SW3's tokenizer follows its config as Hugging Face does", "[tokenizer][gpt-sw3]") {
  const auto variants = Json::parse(read_text(kFixtures / "gpt_sw3_variants.expected.json"));
  REQUIRE(variants.size() >= 5);
  for (const Json& variant : variants) {
    const auto name = variant.at("name").get<std::string>();
    SECTION(name) {
      // The directory's own name matters: Hugging Face picks gpt-sw3-7b's defaults by it.
      llmpi::testing::TempDir temp("gpt-sw3-" + name);
      const auto dir = temp.path() / variant.at("dir").get<std::string>();
      std::filesystem::create_directories(dir);
      std::filesystem::copy_file(kModelDir / "tokenizer.model", dir / "tokenizer.model");
      write_json(dir / "tokenizer_config.json", variant.at("tokenizer_config"));
      if (variant.contains("special_tokens_map"))
        write_json(dir / "special_tokens_map.json", variant.at("special_tokens_map"));
      if (variant.contains("config")) write_json(dir / "config.json", variant.at("config"));
      const auto tokenizer = load_tokenizer(dir);
      for (const auto& token : variant.at("special_tokens")) {
        const auto id = tokenizer->token_to_id(token.get<std::string>());
        REQUIRE(id);
        CHECK(tokenizer->is_special(*id));
      }
      std::size_t failures = 0;
      for (const Json& row : variant.at("rows")) {
        const std::string problem = compare_row(*tokenizer, row);
        if (!problem.empty() && ++failures <= 5) UNSCOPED_INFO(name << ": " << problem);
      }
      CHECK(failures == 0);
    }
  }
}

TEST_CASE("GPT-SW3 configs llmpi cannot follow are refused, naming the file",
          "[tokenizer][gpt-sw3][bad-input]") {
  llmpi::testing::TempDir temp("gpt-sw3-bad");
  const auto dir = temp.path();
  const Json base = {{"tokenizer_class", "GPTSw3Tokenizer"}};
  write_json(dir / "tokenizer_config.json", base);
  CHECK_THROWS_WITH(load_tokenizer(dir),
                    Contains("no spiece.model or tokenizer.model") && Contains(dir.string()));

  std::filesystem::copy_file(kModelDir / "tokenizer.model", dir / "spiece.model");
  CHECK(load_tokenizer(dir)->encode("<s>Hej", false).front() == 2);

  Json config = base;
  config["bos_token"] = "<start>";
  write_json(dir / "tokenizer_config.json", config);
  CHECK_THROWS_WITH(load_tokenizer(dir), Contains("tokenizer_config.json") &&
                                             Contains("special token \"<start>\"") &&
                                             Contains("not a piece of"));

  config = base;
  config["added_tokens_decoder"] = {
      {"2", {{"content", "<s>"}, {"lstrip", true}, {"special", true}}}};
  write_json(dir / "tokenizer_config.json", config);
  CHECK_THROWS_WITH(load_tokenizer(dir), Contains("tokenizer_config.json") &&
                                             Contains("\"lstrip\": true") &&
                                             Contains("valid: false"));

  config["added_tokens_decoder"] = {{"7", {{"content", "<s>"}, {"special", true}}}};
  write_json(dir / "tokenizer_config.json", config);
  CHECK_THROWS_WITH(load_tokenizer(dir), Contains("has id 7") && Contains("gives it 2"));

  config = base;
  config["eos_token"] = 3;
  write_json(dir / "tokenizer_config.json", config);
  CHECK_THROWS_WITH(load_tokenizer(dir),
                    Contains("tokenizer_config.json: eos_token") && Contains("expected a string"));

  config = base;
  config["tokenizer_class"] = Json::array();
  write_json(dir / "tokenizer_config.json", config);
  CHECK_THROWS_WITH(load_tokenizer(dir), Contains("\"tokenizer_class\" must be a string"));

  const auto tokenizer = load_tokenizer(kModelDir);
  CHECK_THROWS_WITH(tokenizer->encode("ab\xff", false), Contains("byte offset 2"));
  CHECK_THROWS_WITH(tokenizer->decode(std::vector<std::int32_t>{5, 3000}, false),
                    Contains("token id 3000 is not in the vocabulary (size 3000)"));
}

TEST_CASE("NFC composes, reorders and decomposes as Unicode says", "[tokenizer][unicode]") {
  using unicode::nfc;
  CHECK(std::string(unicode::nfc_unicode_version()) == "14.0.0");
  CHECK(nfc("") == "");
  CHECK(nfc("plain ASCII\n") == "plain ASCII\n");
  CHECK(nfc("a\u030a") == "\u00e5");                       // å from a + ring
  CHECK(nfc("Sm\u00f6rg\u00e5s") == "Sm\u00f6rg\u00e5s");  // already composed
  CHECK(nfc("Sm\u006f\u0308rga\u030as") == "Sm\u00f6rg\u00e5s");
  CHECK(nfc("\u212b") == "\u00c5");         // Angstrom sign: a singleton
  CHECK(nfc("\u2126") == "\u03a9");         // Ohm sign
  CHECK(nfc("A\u030a\u0301") == "\u01fa");  // two steps of composition
  CHECK(nfc("a\u0323\u0302") == "\u1ead");  // marks in either order compose alike
  CHECK(nfc("a\u0302\u0323") == "\u1ead");
  CHECK(nfc("\u1e0b\u0323") == "\u1e0d\u0307");        // reordered below-dot first
  CHECK(nfc("\u0958") == "\u0915\u093c");              // excluded from composition
  CHECK(nfc("\u0344") == "\u0308\u0301");              // non-starter decomposition
  CHECK(nfc("\u1100\u1161\u11a8") == "\uac01");        // Hangul L V T
  CHECK(nfc("\uac00\u11a8") == "\uac01");              // Hangul LV T
  CHECK(nfc("\u2000") == "\u2002");                    // en quad is canonically an en space
  CHECK(nfc("\u0301a") == "\u0301a");                  // a leading mark has nothing to join
  CHECK(nfc("a\u0338\u0301") == "\u00e1\u0338");       // class 1 before 230: á then the overlay
  CHECK(nfc("e\u0301\u0301") == "\u00e9\u0301");       // the second acute is blocked
  CHECK(nfc("\U0001d15e") == "\U0001d157\U0001d165");  // musical symbol: excluded
  CHECK(nfc(U"\u00c5\u0301") == U"\u01fa");
  CHECK_THROWS_WITH(nfc("a\xc3"), Contains("not valid UTF-8"));
}

TEST_CASE("GPT-SW3's text clean-up strips, maps spaces, then composes", "[tokenizer][gpt-sw3]") {
  CHECK(gpt_sw3_clean_text("Hej\tdu\n") == "Hej\tdu\n");
  CHECK(gpt_sw3_clean_text("a\rb\x0b"
                           "c\x7f"
                           "d") == "abcd");
  CHECK(gpt_sw3_clean_text("a\u00a0b\u00adc\u200bd\u0085e") == "abcde");  // removed, not spaced
  CHECK(gpt_sw3_clean_text("1\u20092\u30003\u202f4\ufffc5") == "1 2 3 4 5");
  CHECK(gpt_sw3_clean_text("a\u2000b\u2001c") == "a\u2002b\u2003c");  // NFC after the mapping
  CHECK(gpt_sw3_clean_text("a\u2007b\u200dc\ufeff") == "a\u2007b\u200dc\ufeff");  // kept
  CHECK(gpt_sw3_clean_text("a\u00ad\u030a") == "\u00e5");  // removal first, then NFC
  CHECK(gpt_sw3_clean_text("") == "");
}
