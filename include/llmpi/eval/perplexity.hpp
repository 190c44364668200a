#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace llmpi {

// One window of a document scored by rolling log-likelihood: the tokens it conditions on and
// the tokens it scores (never scored by another window).
struct TokenWindow {
  std::vector<std::int32_t> context;
  std::vector<std::int32_t> continuation;
};

// lm-evaluation-harness's loglikelihood_rolling windows (get_rolling_token_windows with a context
// of one token, then make_disjoint_window): the first window scores the first `max_tokens`
// tokens after `prefix` (the beginning- or end-of-text token); each next one scores the next
// `max_tokens` tokens after as many preceding ones as make max_tokens + 1 in all. Every token
// is scored once; no window runs more than `max_tokens` tokens through the model.
std::vector<TokenWindow> rolling_windows(std::span<const std::int32_t> tokens, std::int32_t prefix,
                                         std::int64_t max_tokens);

// Words as the harness counts them for word_perplexity: the pieces Python's
// re.split(r"\s+", text) gives (so leading or trailing whitespace adds an empty piece).
std::int64_t count_words(std::string_view text);

}  // namespace llmpi
