#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "llmpi/model/safetensors.hpp"

namespace llmpi {

// The tensors of a Hugging Face checkpoint directory as published: one model.safetensors, or
// shards listed by model.safetensors.index.json. Shards are mapped when first needed, so a rank
// maps only the files that hold its tensors.
class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  bool contains(const std::string& name) const;

  // The header entry of `name`, after checking that it exists.
  const TensorInfo& info(const std::string& name) const;

  // Copies a whole tensor to fp32 after checking its shape against `expected`
  // (which the caller derives from config.json, and names in the message).
  std::vector<float> read(const std::string& name, std::span<const std::int64_t> expected) const;

  // Rows [first, first + count) of a tensor of shape `expected` (1-D: elements); copies only
  // those bytes. A tensor-parallel rank reads its column-parallel slices this way.
  std::vector<float> read_rows(const std::string& name, std::span<const std::int64_t> expected,
                               std::int64_t first, std::int64_t count) const;
  // Columns [first, first + count) of a 2-D tensor: the row-parallel slices.
  std::vector<float> read_columns(const std::string& name, std::span<const std::int64_t> expected,
                                  std::int64_t first, std::int64_t count) const;

  std::size_t bytes_read() const { return bytes_read_; }

 private:
  const SafetensorsFile& file_for(const std::string& name) const;
  // Checks shape and dtype; returns the tensor's bytes.
  std::span<const std::byte> checked_data(const std::string& name,
                                          std::span<const std::int64_t> expected,
                                          DType* dtype) const;

  std::filesystem::path dir_;
  std::map<std::string, std::string> tensor_to_file_;  // tensor name -> file name in dir_
  mutable std::map<std::string, std::unique_ptr<SafetensorsFile>> open_files_;
  mutable std::size_t bytes_read_ = 0;
};

}  // namespace llmpi
