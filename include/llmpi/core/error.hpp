#pragma once

#include <stdexcept>
#include <string>

namespace llmpi {

// The one exception type of llmpi. Messages carry their context (file, tensor, key, rank)
// and what would be valid; the top level turns them into a message and an exit code.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace llmpi
