#include "llmpi/eval/answer_extraction.hpp"

#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmpi {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Number-like spans: an optional minus, digits with optional thousands commas, an optional
// decimal part. Returns [begin, end) pairs in order.
std::vector<std::pair<std::size_t, std::size_t>> number_spans(std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      ++i;
      continue;
    }
    std::size_t begin = i;
    if (begin > 0 && text[begin - 1] == '-') --begin;
    std::size_t end = i;
    while (end < text.size()) {
      if (is_digit(text[end])) {
        ++end;
      } else if ((text[end] == ',' || text[end] == '.') && end + 1 < text.size() &&
                 is_digit(text[end + 1])) {
        end += 1;  // a separator followed by a digit stays inside the number
      } else {
        break;
      }
    }
    spans.emplace_back(begin, end);
    i = end;
  }
  return spans;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::optional<std::string> first_number(std::string_view text) {
  const auto spans = number_spans(text);
  if (spans.empty()) return std::nullopt;
  const std::string n = normalize_number(
      text.substr(spans.front().first, spans.front().second - spans.front().first));
  return n.empty() ? std::nullopt : std::optional<std::string>(n);
}

}  // namespace

std::string normalize_number(std::string_view text) {
  const auto spans = number_spans(text);
  if (spans.empty()) return {};
  const std::string_view number =
      text.substr(spans.front().first, spans.front().second - spans.front().first);
  std::string digits;
  bool negative = false;
  for (const char c : number) {
    if (c == '-') {
      negative = true;
    } else if (c != ',') {
      digits += c;
    }
  }
  // European "1.234" (a dot before exactly three digits, more dots or no other digits) is
  // not attempted: GSM8K and English model output use commas for thousands.
  if (const auto dot = digits.find('.'); dot != std::string::npos) {
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    if (!digits.empty() && digits.back() == '.') digits.pop_back();
  }
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return "0";
  digits.erase(0, digits[first] == '.' ? first - 1 : first);  // keep "0.5", drop "007"
  if (digits == "0") negative = false;
  return (negative ? "-" : "") + digits;
}

std::optional<std::string> gsm8k_reference(std::string_view answer) {
  const std::size_t marker = answer.rfind("####");
  if (marker == std::string_view::npos) return std::nullopt;
  return first_number(answer.substr(marker + 4));
}

std::optional<std::string> extract_numeric_answer(std::string_view completion) {
  if (const std::size_t marker = completion.rfind("####"); marker != std::string_view::npos) {
    if (auto n = first_number(completion.substr(marker + 4))) return n;
  }
  std::string lower(completion);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (const std::size_t marker = lower.rfind("answer is"); marker != std::string::npos) {
    if (auto n = first_number(completion.substr(marker + 9))) return n;
  }
  const auto spans = number_spans(completion);
  if (spans.empty()) return std::nullopt;
  const auto& last = spans.back();
  return normalize_number(completion.substr(last.first, last.second - last.first));
}

bool answers_match(std::string_view predicted, std::string_view reference) {
  const std::string p = normalize_number(predicted);
  const std::string r = normalize_number(reference);
  if (!p.empty() && !r.empty()) return p == r;
  return trim(predicted) == trim(reference);
}

namespace {
std::string_view strip(std::string_view text) {
  // Python's str.strip(): ASCII whitespace and the separators it also removes.
  const char* space = " \t\n\r\f\v\x1c\x1d\x1e\x1f";
  const std::size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return {};
  return text.substr(begin, text.find_last_not_of(space) - begin + 1);
}
}  // namespace

namespace {
bool is_strict_char(char c) {
  return is_digit(c) || c == '.' || c == ',';
}
bool is_flexible_char(char c) {
  return is_strict_char(c) || c == '$';
}

// End of the run of `in_class` characters starting at `i`.
template <class Class>
std::size_t run_end(std::string_view text, std::size_t i, Class in_class) {
  while (i < text.size() && in_class(text[i])) ++i;
  return i;
}

// The harness's strict regex "#### (-?[0-9.,]+)" at its first match: the group, or nothing.
std::optional<std::string_view> strict_match_group(std::string_view text) {
  for (std::size_t at = text.find("#### "); at != std::string_view::npos;
       at = text.find("#### ", at + 1)) {
    const std::size_t begin = at + 5;
    const std::size_t digits = begin < text.size() && text[begin] == '-' ? begin + 1 : begin;
    const std::size_t end = run_end(text, digits, is_strict_char);
    if (end > digits) return text.substr(begin, end - begin);
  }
  return std::nullopt;
}

// Length of the flexible regex "(-?[$0-9.,]{2,})|(-?[0-9]+)" matched at `i` (0: no match),
// tried as Python does: the first alternative, greedy, then the second.
std::size_t flexible_match_length(std::string_view text, std::size_t i) {
  // A leading '-' is never in either class, so dropping the optional '-' cannot help.
  const std::size_t body = text[i] == '-' ? i + 1 : i;
  if (const std::size_t end = run_end(text, body, is_flexible_char); end >= body + 2)
    return end - i;
  if (const std::size_t end = run_end(text, body, is_digit); end > body) return end - i;
  return 0;
}

// The flexible regex's last match, scanning left to right without overlap as re.findall does.
std::optional<std::string_view> flexible_last_match(std::string_view text) {
  std::optional<std::string_view> last;
  for (std::size_t i = 0; i < text.size();) {
    if (const std::size_t length = flexible_match_length(text, i); length > 0) {
      last = text.substr(i, length);
      i += length;
    } else {
      ++i;
    }
  }
  return last;
}
}  // namespace

std::string harness_gsm8k_answer(std::string_view completion, HarnessGsm8kFilter filter) {
  // Hand-written equivalents of the harness's two regexes (ASCII classes, as in Python).
  const auto found = filter == HarnessGsm8kFilter::strict_match ? strict_match_group(completion)
                                                                : flexible_last_match(completion);
  return found ? std::string(strip(*found)) : std::string("[invalid]");
}

std::string harness_gsm8k_normalised(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c != ',' && c != '$') out += c;
  }
  if (const std::size_t mark = out.rfind("#### "); mark != std::string::npos)
    out.erase(0, mark + 5);
  // Python's "\.$": a final ".", or one just before a final newline.
  if (!out.empty() && out.back() == '.') {
    out.pop_back();
  } else if (out.size() >= 2 && out.back() == '\n' && out[out.size() - 2] == '.') {
    out.erase(out.size() - 2, 1);
  }
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace llmpi
