#include "llmpi/eval/perplexity.hpp"

#include <algorithm>
#include <string>

#include "llmpi/core/error.hpp"

namespace llmpi {

std::vector<TokenWindow> rolling_windows(std::span<const std::int32_t> tokens, std::int32_t prefix,
                                         std::int64_t max_tokens) {
  if (max_tokens < 1) {
    throw Error("rolling log-likelihood: windows of " + std::to_string(max_tokens) +
                " tokens (at least 1)");
  }
  std::vector<TokenWindow> windows;
  const auto total = static_cast<std::int64_t>(tokens.size());
  if (total == 0) return windows;
  auto slice = [&](std::int64_t begin, std::int64_t end) {
    return std::vector<std::int32_t>(tokens.begin() + begin, tokens.begin() + end);
  };
  const std::int64_t first = std::min(max_tokens, total);
  windows.push_back({{prefix}, slice(0, first)});
  for (std::int64_t scored = first; scored < total;) {
    const std::int64_t count = std::min(total - scored, max_tokens);
    const std::int64_t end = scored + count;
    // The harness's input is tokens[end - max_tokens - 1, end - 1); its disjoint context is what
    // comes before the scored tokens.
    windows.push_back(
        {slice(std::max<std::int64_t>(end - max_tokens - 1, 0), scored), slice(scored, end)});
    scored = end;
  }
  return windows;
}

namespace {
// The length of the whitespace character at `at` (what Python's \s matches in a str), or 0.
std::size_t whitespace_at(std::string_view text, std::size_t at) {
  const auto byte = static_cast<unsigned char>(text[at]);
  if ((byte >= 0x09 && byte <= 0x0d) || byte == ' ' || (byte >= 0x1c && byte <= 0x1f)) return 1;
  // U+0085, U+00A0; U+1680; U+2000-U+200A, U+2028, U+2029, U+202F, U+205F; U+3000.
  auto next = [&](std::size_t i) {
    return at + i < text.size() ? static_cast<unsigned char>(text[at + i]) : 0;
  };
  if (byte == 0xc2 && (next(1) == 0x85 || next(1) == 0xa0)) return 2;
  if (byte == 0xe1 && next(1) == 0x9a && next(2) == 0x80) return 3;
  if (byte == 0xe2 && next(1) == 0x80 &&
      (next(2) <= 0x8a || next(2) == 0xa8 || next(2) == 0xa9 || next(2) == 0xaf)) {
    return 3;
  }
  if (byte == 0xe2 && next(1) == 0x81 && next(2) == 0x9f) return 3;
  if (byte == 0xe3 && next(1) == 0x80 && next(2) == 0x80) return 3;
  return 0;
}
}  // namespace

std::int64_t count_words(std::string_view text) {
  std::int64_t pieces = 1;
  bool in_space = false;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t width = whitespace_at(text, at);
    if (width > 0 && !in_space) ++pieces;  // a run of whitespace splits once
    in_space = width > 0;
    at += std::max<std::size_t>(width, 1);
  }
  return pieces;
}

}  // namespace llmpi
