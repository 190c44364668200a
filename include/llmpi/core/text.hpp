#pragma once

#include <string>
#include <vector>

namespace llmpi {

// "1, 2, 4": lists of numbers in messages.
inline std::string join(const std::vector<int>& values) {
  std::string text;
  for (const int value : values) text += (text.empty() ? "" : ", ") + std::to_string(value);
  return text;
}

// "a, b, c": lists of names in messages.
inline std::string join(const std::vector<std::string>& values, const std::string& separator) {
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i) text += (i ? separator : "") + values[i];
  return text;
}

}  // namespace llmpi
