#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace llmpi {

// Canonical form of a numeric answer: no thousands separators, currency or units signs,
// trailing zeros of a decimal or a trailing full stop; "-0" is "0". Empty if `text` holds no
// number. "1,234.50" -> "1234.5", "$7" -> "7", "3." -> "3".
std::string normalize_number(std::string_view text);

// The reference answer of a GSM8K record: the text after the last "####".
std::optional<std::string> gsm8k_reference(std::string_view answer);

// The number a model's completion commits to, in order of preference: after the last "####",
// after the last "answer is", else the last number in the text. Normalised; empty if none.
std::optional<std::string> extract_numeric_answer(std::string_view completion);

// Exact match of two answers after normalisation (numbers compared as normalised numbers).
bool answers_match(std::string_view predicted, std::string_view reference);

// lm-evaluation-harness's two GSM8K filters on a completion (its gsm8k.yaml): strict-match
// takes the first "#### <number>", flexible-extract the last number-like run; each answer is
// stripped of surrounding whitespace, and "[invalid]" when nothing matches.
enum class HarnessGsm8kFilter { strict_match, flexible_extract };
std::string harness_gsm8k_answer(std::string_view completion, HarnessGsm8kFilter filter);

// The harness's exact_match as its GSM8K task configures it, applied to a filtered answer and
// to the reference (the record's whole answer): "," and "$" removed, everything up to the last
// "#### " removed, a final "." removed (before a final newline too), lower-cased (ASCII).
std::string harness_gsm8k_normalised(std::string_view text);

}  // namespace llmpi
