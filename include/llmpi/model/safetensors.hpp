#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "llmpi/core/dtype.hpp"
#include "llmpi/core/mapped_file.hpp"

namespace llmpi {

struct TensorInfo {
  std::string name;
  std::string dtype_name;      // as written in the header, e.g. "BF16"
  std::optional<DType> dtype;  // empty for valid safetensors dtypes llmpi does not compute with
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;  // absolute byte offsets in the file
  std::size_t end = 0;

  std::size_t numel() const;
};

std::string shape_string(std::span<const std::int64_t> shape);

// One memory-mapped .safetensors file whose header has been validated in full before any
// tensor is handed out: JSON well-formed, known dtypes, shape x dtype size = byte length,
// offsets inside the file and not overlapping.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const TensorInfo* find(const std::string& name) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  std::span<const std::byte> data(const TensorInfo& tensor) const;
  const std::filesystem::path& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> by_name_;
};

}  // namespace llmpi
