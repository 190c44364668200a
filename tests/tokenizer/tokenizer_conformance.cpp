// Every string of tests/fixtures/tokenizers/corpus.jsonl through llmpi's tokenizer and through
// Hugging Face's (scripts/make_tokenizer_fixtures.py): the same ids with and without special
// tokens, and the same decoded text, with and without skipping special tokens.
// Usage: tokenizer_conformance NAME TOKENIZER_DIR|- [VARIABLE]. Exits 77 (skipped) when the
// tokenizer has not been fetched (scripts/fetch_smollm2.sh, scripts/fetch_tokenizers.sh) or
// VARIABLE, the environment variable it comes from, is unset.
// With TOKENIZER_DIR/tokenizer.model given instead (SentencePiece), only the ids are compared,
// on the strings that contain no special-token text: SentencePiece itself never matches "<s>"
// inside text, which is a tokenizer.json addition.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "llmpi/tokenizer/tokenizer.hpp"

namespace {

std::string show(const std::vector<std::int32_t>& ids) {
  std::string text;
  for (std::size_t i = 0; i < ids.size() && i < 40; ++i)
    text += (i ? "," : "") + std::to_string(ids[i]);
  return text + (ids.size() > 40 ? ",..." : "");
}

int run(const std::string& name, const std::filesystem::path& path) {
  const std::filesystem::path fixtures = LLMPI_FIXTURES_DIR "/tokenizers";
  const bool sentencepiece = path.extension() == ".model";
  const auto tokenizer =
      sentencepiece ? llmpi::load_sentencepiece_tokenizer(path) : llmpi::load_tokenizer(path);
  std::size_t skipped = 0;
  std::ifstream corpus(fixtures / "corpus.jsonl");
  std::ifstream expected(fixtures / (name + ".expected.jsonl"));
  if (!corpus || !expected) {
    std::fprintf(stderr, "missing corpus.jsonl or %s.expected.jsonl\n", name.c_str());
    return 1;
  }
  std::string corpus_line, expected_line;
  std::size_t lines = 0, failures = 0;
  while (std::getline(corpus, corpus_line) && std::getline(expected, expected_line)) {
    ++lines;
    const auto text = nlohmann::json::parse(corpus_line).at("text").get<std::string>();
    const auto want = nlohmann::json::parse(expected_line);
    if (sentencepiece) {
      if (text.find("<s>") != std::string::npos || text.find("</s>") != std::string::npos ||
          text.find("<unk>") != std::string::npos) {
        ++skipped;
        continue;
      }
      const bool same =
          tokenizer->encode(text, true) == want.at("ids_special").get<std::vector<std::int32_t>>();
      if (!same && ++failures <= 10) {
        std::printf("line %zu: %s differs\n", lines, nlohmann::json(text).dump().c_str());
      }
      continue;
    }
    const auto ids = tokenizer->encode(text, false);
    const auto ids_special = tokenizer->encode(text, true);
    const auto want_ids = want.at("ids").get<std::vector<std::int32_t>>();
    const auto want_special = want.at("ids_special").get<std::vector<std::int32_t>>();
    const std::string decoded = tokenizer->decode(want_special, false);
    const std::string decoded_skip = tokenizer->decode(want_special, true);
    const bool ok = ids == want_ids && ids_special == want_special &&
                    decoded == want.at("decoded").get<std::string>() &&
                    decoded_skip == want.at("decoded_skip").get<std::string>();
    if (!ok && ++failures <= 10) {
      std::printf("line %zu: %s\n  ours %s\n  hf   %s\n  decoded ours %s\n  decoded hf   %s\n",
                  lines, nlohmann::json(text).dump().c_str(), show(ids_special).c_str(),
                  show(want_special).c_str(), nlohmann::json(decoded).dump().c_str(),
                  want.at("decoded").dump().c_str());
    }
  }
  lines -= skipped;
  std::printf("%s%s: %zu strings, %zu identical to Hugging Face, %zu different\n", name.c_str(),
              sentencepiece ? " (tokenizer.model)" : "", lines, lines - failures, failures);
  return failures == 0 && lines > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: tokenizer_conformance NAME TOKENIZER_PATH|- [VARIABLE]\n");
    return 2;
  }
  // VARIABLE names the environment variable the tokenizer comes from (Llama-2's licence keeps
  // it out of the repository); a path of "-" means the variable's value itself.
  const char* variable = argc == 4 ? argv[3] : nullptr;
  const char* from_variable = variable ? std::getenv(variable) : nullptr;
  const bool unset = variable && (!from_variable || !*from_variable);
  if (std::string(argv[2]) == "-" && unset) {
    std::printf(
        "SKIP: %s is not set (the path of the tokenizer.model this test needs; see "
        "docs/testing.md)\n",
        variable);
    return 77;
  }
  const std::filesystem::path dir = std::string(argv[2]) == "-" ? from_variable : argv[2];
  const auto needed = dir.extension() == ".model" ? dir : dir / "tokenizer.json";
  if (!std::filesystem::exists(needed)) {
    if (variable && !unset) {
      std::fprintf(stderr, "error: %s not present, though %s=%s is set%s\n", needed.c_str(),
                   variable, from_variable,
                   std::string(argv[2]) == "-" ? "" : " (scripts/fetch_tokenizers.sh converts it)");
      return 1;
    }
    std::printf("SKIP: %s not present (%s)\n", needed.c_str(),
                variable ? (std::string(variable) +
                            " is not set; scripts/fetch_tokenizers.sh converts the tokenizer from "
                            "the tokenizer.model it names")
                               .c_str()
                         : "scripts/fetch_smollm2.sh fetches it");
    return 77;
  }
  try {
    return run(argv[1], dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
