#include "llmpi/model/checkpoint.hpp"

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"

namespace llmpi {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// A shard name from the index must be a plain file name inside the checkpoint directory.
void check_shard_name(const std::string& shard, const std::string& tensor,
                      const std::string& index_path) {
  if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
    throw Error(index_path + ": weight_map entry for '" + tensor + "' names '" + shard +
                "'; expected a file name inside the checkpoint directory");
  }
}

}  // namespace

Checkpoint::Checkpoint(const std::filesystem::path& dir) : dir_(dir) {
  const auto index_path = dir / kIndexFile;
  const auto single_path = dir / kSingleFile;
  std::error_code error;
  if (std::filesystem::exists(std::filesystem::symlink_status(index_path, error))) {
    constexpr std::uint64_t kMaxBytes = std::uint64_t{256} << 20;
    const nlohmann::json index =
        parse_json(read_input_file(index_path, "checkpoint index", kMaxBytes), index_path.string());
    if (!index.is_object() || !index.contains("weight_map") ||
        !index.at("weight_map").is_object()) {
      throw Error(index_path.string() + ": expected an object with a 'weight_map' object");
    }
    for (const auto& [tensor, shard] : index.at("weight_map").items()) {
      if (!shard.is_string()) {
        throw Error(index_path.string() + ": weight_map entry for '" + tensor +
                    "' must be a file name string");
      }
      check_shard_name(shard.get<std::string>(), tensor, index_path.string());
      tensor_to_file_.emplace(tensor, shard.get<std::string>());
    }
  } else if (std::filesystem::exists(single_path)) {
    auto file = std::make_unique<SafetensorsFile>(single_path);
    for (const TensorInfo& tensor : file->tensors())
      tensor_to_file_.emplace(tensor.name, kSingleFile);
    open_files_.emplace(kSingleFile, std::move(file));
  } else {
    throw Error("no " + std::string(kSingleFile) + " or " + kIndexFile + " in " + dir.string() +
                " (llmpi reads Hugging Face safetensors checkpoints)");
  }
}

bool Checkpoint::contains(const std::string& name) const {
  return tensor_to_file_.count(name) != 0;
}

const SafetensorsFile& Checkpoint::file_for(const std::string& name) const {
  const auto it = tensor_to_file_.find(name);
  if (it == tensor_to_file_.end()) {
    throw Error("tensor '" + name + "' not found in the checkpoint " + dir_.string() + " (" +
                std::to_string(tensor_to_file_.size()) + " tensors listed)");
  }
  auto open = open_files_.find(it->second);
  if (open == open_files_.end()) {
    const auto path = dir_ / it->second;
    if (!std::filesystem::exists(path)) {
      throw Error(std::string(kIndexFile) + " in " + dir_.string() + " maps tensor '" + name +
                  "' to " + it->second + ", which does not exist");
    }
    open = open_files_.emplace(it->second, std::make_unique<SafetensorsFile>(path)).first;
  }
  return *open->second;
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  const SafetensorsFile& file = file_for(name);
  const TensorInfo* tensor = file.find(name);
  if (tensor == nullptr) {
    throw Error(std::string(kIndexFile) + " in " + dir_.string() + " maps tensor '" + name +
                "' to " + file.path().string() + ", which does not contain it");
  }
  return *tensor;
}

std::span<const std::byte> Checkpoint::checked_data(const std::string& name,
                                                    std::span<const std::int64_t> expected,
                                                    DType* dtype) const {
  const TensorInfo& tensor = info(name);
  const SafetensorsFile& file = file_for(name);
  const std::string where = file.path().string() + ": tensor '" + name + "'";
  if (!std::equal(tensor.shape.begin(), tensor.shape.end(), expected.begin(), expected.end())) {
    throw Error(where + " has shape " + shape_string(tensor.shape) + ", expected " +
                shape_string(expected) + " from config.json");
  }
  if (!tensor.dtype) {
    throw Error(where + " has dtype " + tensor.dtype_name +
                ", which llmpi does not load (supported: F32, F16, BF16)");
  }
  *dtype = *tensor.dtype;
  return file.data(tensor);
}

std::vector<float> Checkpoint::read(const std::string& name,
                                    std::span<const std::int64_t> expected) const {
  return read_rows(name, expected, 0, expected.empty() ? 1 : expected[0]);
}

std::vector<float> Checkpoint::read_rows(const std::string& name,
                                         std::span<const std::int64_t> expected, std::int64_t first,
                                         std::int64_t count) const {
  DType dtype;
  const auto bytes = checked_data(name, expected, &dtype);
  const std::int64_t rows = expected.empty() ? 1 : expected[0];
  if (first < 0 || count < 0 || first + count > rows) {
    throw Error("tensor '" + name + "': rows [" + std::to_string(first) + ", " +
                std::to_string(first + count) + ") outside its " + std::to_string(rows) + " rows");
  }
  const auto row_elements = static_cast<std::size_t>(
      std::accumulate(expected.begin() + (expected.empty() ? 0 : 1), expected.end(),
                      std::int64_t{1}, std::multiplies<>()));
  const std::size_t element = dtype_size(dtype);
  std::vector<float> values(static_cast<std::size_t>(count) * row_elements);
  convert_to_f32(dtype, bytes.data() + static_cast<std::size_t>(first) * row_elements * element,
                 values.size(), values.data());
  bytes_read_ += values.size() * element;
  return values;
}

std::vector<float> Checkpoint::read_columns(const std::string& name,
                                            std::span<const std::int64_t> expected,
                                            std::int64_t first, std::int64_t count) const {
  DType dtype;
  const auto bytes = checked_data(name, expected, &dtype);
  if (expected.size() != 2 || first < 0 || count < 0 || first + count > expected[1]) {
    throw Error("tensor '" + name + "': columns [" + std::to_string(first) + ", " +
                std::to_string(first + count) + ") outside its shape " + shape_string(expected));
  }
  const std::size_t element = dtype_size(dtype);
  const auto rows = static_cast<std::size_t>(expected[0]);
  const auto cols = static_cast<std::size_t>(expected[1]);
  std::vector<float> values(rows * static_cast<std::size_t>(count));
  for (std::size_t r = 0; r < rows; ++r) {
    convert_to_f32(dtype, bytes.data() + (r * cols + static_cast<std::size_t>(first)) * element,
                   static_cast<std::size_t>(count),
                   values.data() + r * static_cast<std::size_t>(count));
  }
  bytes_read_ += values.size() * element;
  return values;
}

}  // namespace llmpi
