#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.hpp"

#include <pcre2.h>

#include "llmpi/core/error.hpp"

namespace llmpi {

struct Regex::Handles {
  pcre2_code* code = nullptr;
  pcre2_match_data* match = nullptr;
  ~Handles() {
    if (match != nullptr) pcre2_match_data_free(match);
    if (code != nullptr) pcre2_code_free(code);
  }
};

Regex::Regex(const std::string& pattern)
    : handles_(std::make_unique<Handles>()), pattern_(pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  handles_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (handles_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof message);
    throw Error("regular expression '" + pattern + "' does not compile at offset " +
                std::to_string(offset) + ": " + reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(handles_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
  handles_->match = pcre2_match_data_create_from_pattern(handles_->code, nullptr);
}

Regex::~Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  std::size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(handles_->code, reinterpret_cast<PCRE2_SPTR>(text.data()),
                               text.size(), start, PCRE2_NO_UTF_CHECK, handles_->match, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throw Error("regular expression '" + pattern_ + "' failed to match");
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(handles_->match);
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end == begin) {
      // Empty match: step over one whole character and try again.
      std::size_t next = begin + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xc0) == 0x80) ++next;
      start = next;
      continue;
    }
    matches.emplace_back(begin, end);
    start = end;
  }
  return matches;
}

bool Regex::matches_at_start(std::string_view text) const {
  const int rc = pcre2_match(handles_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(),
                             0, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, handles_->match, nullptr);
  return rc >= 0;
}

}  // namespace llmpi
