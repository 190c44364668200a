// Perplexity's pieces as lm-evaluation-harness defines them: its rolling windows (every token
// scored once, no window longer than the model's length) and its word count.
#include <catch2/catch.hpp>
#include <numeric>

#include "llmpi/eval/perplexity.hpp"

using namespace llmpi;

namespace {
std::vector<std::int32_t> iota(int count, int first = 10) {
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(count));
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}
}  // namespace

TEST_CASE("rolling windows score every token once after at most max_tokens - 1 before it",
          "[eval][perplexity]") {
  // What the harness's get_rolling_token_windows + make_disjoint_window give for 10 tokens,
  // max_seq_len 4, context_len 1 (worked by hand from its code).
  const std::vector<std::int32_t> tokens = iota(10);
  const std::vector<TokenWindow> windows = rolling_windows(tokens, 1, 4);
  REQUIRE(windows.size() == 3);
  CHECK(windows[0].context == std::vector<std::int32_t>{1});
  CHECK(windows[0].continuation == std::vector<std::int32_t>{10, 11, 12, 13});
  CHECK(windows[1].context == std::vector<std::int32_t>{13});
  CHECK(windows[1].continuation == std::vector<std::int32_t>{14, 15, 16, 17});
  // The last, shorter window keeps a longer context: max_tokens + 1 tokens in all.
  CHECK(windows[2].context == std::vector<std::int32_t>{15, 16, 17});
  CHECK(windows[2].continuation == std::vector<std::int32_t>{18, 19});

  // 604 tokens in windows of 128 (the harness's run): four full windows, then 92 after 37.
  const std::vector<TokenWindow> long_document = rolling_windows(iota(604), 1, 128);
  REQUIRE(long_document.size() == 5);
  for (std::size_t w = 0; w < 4; ++w) CHECK(long_document[w].continuation.size() == 128);
  CHECK(long_document[4].context.size() == 37);
  CHECK(long_document[4].continuation.size() == 92);
  std::size_t scored = 0;
  for (const TokenWindow& w : long_document) {
    CHECK(w.context.size() + w.continuation.size() <= 129);
    scored += w.continuation.size();
  }
  CHECK(scored == 604);

  CHECK(rolling_windows(iota(3), 1, 8).size() == 1);
  CHECK(rolling_windows({}, 1, 8).empty());
  CHECK_THROWS_WITH(rolling_windows(tokens, 1, 0), Catch::Contains("at least 1"));
}

TEST_CASE("words are counted as Python's re.split(r'\\s+') pieces", "[eval][perplexity]") {
  CHECK(count_words("one two  three") == 3);
  CHECK(count_words("one\ttwo\nthree\r\n") == 4);  // trailing whitespace: an empty piece
  CHECK(count_words("  leading") == 2);
  CHECK(count_words("") == 1);
  CHECK(count_words("no\u00a0break") == 2);  // U+00A0 is whitespace to Python
  CHECK(count_words("ideographic\u3000space and\u2009thin") == 4);
  CHECK(count_words("naïve café") == 2);
}
