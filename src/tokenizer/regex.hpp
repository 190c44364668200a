#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmpi {

// A compiled Unicode-aware regular expression (PCRE2 with UTF and UCP: \p{L}, \s and friends
// follow the Unicode tables), JIT-compiled where available. Owns its PCRE2 handles.
class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of successive non-overlapping matches; empty matches skipped.
  std::vector<std::pair<std::size_t, std::size_t>> find_all(std::string_view text) const;
  bool matches_at_start(std::string_view text) const;

 private:
  struct Handles;
  std::unique_ptr<Handles> handles_;
  std::string pattern_;
};

}  // namespace llmpi
