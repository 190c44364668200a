#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "llmpi/core/dtype.hpp"

namespace llmpi {

// Where a tensor's memory is: what decides who may read it (the CPU, or kernels and NCCL on the
// device), independently of the element type it holds.
enum class MemoryLocation { host, device };

inline std::string_view memory_location_name(MemoryLocation location) {
  return location == MemoryLocation::host ? "host" : "device";
}

// A 2-D (rows x cols) view of memory owned by a backend. Activations and weights are all
// matrices here: [tokens, features] or [out_features, in_features]; 1-D vectors have rows = 1.
// `storage` keeps the allocation alive, so row views can outlive the tensor they came from.
// The backend that allocates a tensor sets its dtype and location; views keep both.
struct Tensor {
  std::shared_ptr<void> storage;
  void* data = nullptr;
  DType dtype = DType::f32;
  MemoryLocation location = MemoryLocation::host;
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  std::int64_t numel() const { return rows * cols; }
  bool empty() const { return data == nullptr; }

  // Rows [first, first + count) as a view of the same memory.
  Tensor row_range(std::int64_t first, std::int64_t count) const {
    Tensor view = *this;
    view.data =
        static_cast<char*>(data) + static_cast<std::size_t>(first * cols) * dtype_size(dtype);
    view.rows = count;
    return view;
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

}  // namespace llmpi
