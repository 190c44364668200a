// Every string of tests/fixtures/tokenizers/corpus.jsonl through llmpi's tokenizer and through
// Hugging Face's (scripts/make_tokenizer_fixtures.py): the same ids with and without special
// tokens, and the same decoded text, with and without skipping special tokens.
// Usage: tokenizer_conformance NAME TOKENIZER_DIR. Exits 77 (skipped) when the tokenizer
// has not been fetched (scripts/fetch_smollm2.sh, scripts/fetch_tokenizers.sh).
// With TOKENIZER_DIR/tokenizer.model given instead (SentencePiece), only the ids are compared,
// on the strings that contain no special-token text: SentencePiece itself never matches "<s>"
// inside text, which is a tokenizer.json addition.
#include <cstdio>
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
  if (argc != 3) {
    std::fprintf(stderr, "usage: tokenizer_conformance NAME TOKENIZER_DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[2];
  const auto needed = dir.extension() == ".model" ? dir : dir / "tokenizer.json";
  if (!std::filesystem::exists(needed)) {
    std::printf(
        "SKIP: %s not present (scripts/fetch_smollm2.sh and scripts/fetch_tokenizers.sh "
        "fetch it)\n",
        needed.c_str());
    return 77;
  }
  try {
    return run(argv[1], dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
