#include "llmpi/eval/answer_extraction.hpp"

#include <cctype>
#include <regex>
#include <string>
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

std::string harness_gsm8k_answer(std::string_view completion, HarnessGsm8kFilter filter) {
  // The harness's regexes; [0-9] and the other classes are ASCII in Python as here.
  static const std::regex strict(R"(#### (-?[0-9.,]+))");
  static const std::regex flexible(R"((-?[$0-9.,]{2,})|(-?[0-9]+))");
  const std::string text(completion);
  const bool first = filter == HarnessGsm8kFilter::strict_match;
  const std::regex& pattern = first ? strict : flexible;
  std::optional<std::string> found;
  for (auto match = std::sregex_iterator(text.begin(), text.end(), pattern);
       match != std::sregex_iterator(); ++match) {
    // findall's value: the first group that took part (re.findall gives every group, the
    // harness keeps the first non-empty one).
    for (std::size_t group = 1; group < match->size(); ++group) {
      if ((*match)[group].matched && (*match)[group].length() > 0) {
        found = (*match)[group].str();
        break;
      }
    }
    if (first && found) break;
  }
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
