#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace llmpi::testing {

// A tensor as the safetensors writer lays it out; `dtype` is written verbatim so tests can
// write dtypes llmpi refuses.
struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;
};

// Reads every tensor of a (valid) safetensors file.
std::vector<RawTensor> read_raw_tensors(const std::filesystem::path& path);

// Writes a safetensors file: tensors packed in order, offsets computed from the byte sizes.
void write_safetensors(const std::filesystem::path& path, const std::vector<RawTensor>& tensors);

// Writes an arbitrary header (already JSON) followed by `data_bytes` zero bytes.
void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                           std::size_t data_bytes, std::uint64_t declared_header_length);

std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace llmpi::testing
