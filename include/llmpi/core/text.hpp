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

}  // namespace llmpi
