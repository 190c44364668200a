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

}  // namespace llmpi
