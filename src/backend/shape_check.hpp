#pragma once

#include <string>

#include "llmpi/backend/tensor.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi {

// Shape mismatches inside a backend are bugs in the caller; the message names the backend,
// the op and the shapes.
class ShapeCheck {
 public:
  explicit ShapeCheck(const char* backend) : backend_(backend) {}

  void require(bool condition, const char* op, const std::string& what) const {
    if (!condition) throw Error(std::string(backend_) + " backend " + op + ": " + what);
  }
  void same_shape(const Tensor& a, const Tensor& b, const char* op) const {
    require(a.rows == b.rows && a.cols == b.cols, op, dims(a) + " vs " + dims(b));
  }
  static std::string dims(const Tensor& t) {
    return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]";
  }

 private:
  const char* backend_;
};

}  // namespace llmpi
