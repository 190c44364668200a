#include "llmpi/model/safetensors.hpp"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"

namespace llmpi {

namespace {

struct DTypeEntry {
  const char* name;
  std::size_t size;
  std::optional<DType> dtype;
};

// Every dtype the safetensors format defines; only the last three are computed with.
constexpr DTypeEntry kDTypes[] = {
    {"BOOL", 1, std::nullopt},    {"U8", 1, std::nullopt},      {"I8", 1, std::nullopt},
    {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt}, {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},     {"I32", 4, std::nullopt},     {"U32", 4, std::nullopt},
    {"I64", 8, std::nullopt},     {"U64", 8, std::nullopt},     {"F64", 8, std::nullopt},
    {"F16", 2, DType::f16},       {"BF16", 2, DType::bf16},     {"F32", 4, DType::f32},
};

const DTypeEntry* find_dtype(const std::string& name) {
  for (const DTypeEntry& entry : kDTypes) {
    if (name == entry.name) return &entry;
  }
  return nullptr;
}

}  // namespace

std::size_t TensorInfo::numel() const {
  std::size_t count = 1;
  for (std::int64_t dim : shape) count *= static_cast<std::size_t>(dim);
  return count;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : file_(path) {
  const std::string where = path.string();
  const auto bytes = file_.bytes();
  if (bytes.size() < 8) {
    throw Error(where + ": " + std::to_string(bytes.size()) +
                " bytes is too short for a safetensors file (needs an 8-byte header length); "
                "truncated?");
  }
  std::uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) {
    header_length =
        (header_length << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  }
  if (header_length > bytes.size() - 8) {
    throw Error(where + ": header length " + std::to_string(header_length) +
                " at byte offset 0 runs past the end of the file (" + std::to_string(bytes.size()) +
                " bytes); truncated or not a safetensors file?");
  }
  const std::size_t data_start = 8 + static_cast<std::size_t>(header_length);
  const std::size_t data_size = bytes.size() - data_start;
  const auto* header_chars = reinterpret_cast<const char*>(bytes.data() + 8);

  const nlohmann::json header = parse_json(
      std::string_view(header_chars, static_cast<std::size_t>(header_length)), where + ": header");
  if (!header.is_object()) throw Error(where + ": header must be a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string context = where + ": tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      throw Error(context + ": header entry needs dtype, shape and data_offsets");
    }
    TensorInfo info;
    info.name = name;
    if (!entry.at("dtype").is_string()) throw Error(context + ": dtype must be a string");
    info.dtype_name = entry.at("dtype").get<std::string>();
    const DTypeEntry* dtype = find_dtype(info.dtype_name);
    if (dtype == nullptr) {
      throw Error(context + ": unknown dtype '" + info.dtype_name +
                  "' (safetensors defines BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, "
                  "I32, U32, F32, F64, I64, U64)");
    }
    info.dtype = dtype->dtype;

    const auto& shape = entry.at("shape");
    if (!shape.is_array()) throw Error(context + ": shape must be a list");
    std::size_t numel = 1;
    for (const auto& dim : shape) {
      if (!dim.is_number_unsigned()) {
        throw Error(context + ": shape entries must be non-negative integers, got " + shape.dump());
      }
      const auto extent = dim.get<std::uint64_t>();
      if (extent > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          (extent != 0 && numel > std::numeric_limits<std::size_t>::max() / extent)) {
        throw Error(context + ": shape " + shape.dump() +
                    " has more elements than any file can hold (2^64 or more)");
      }
      numel *= static_cast<std::size_t>(extent);
      info.shape.push_back(static_cast<std::int64_t>(extent));
    }

    const auto& offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets.at(0).is_number_unsigned() ||
        !offsets.at(1).is_number_unsigned()) {
      throw Error(context + ": data_offsets must be two non-negative integers, got " +
                  offsets.dump());
    }
    const auto begin = offsets.at(0).get<std::uint64_t>();
    const auto end = offsets.at(1).get<std::uint64_t>();
    if (begin > end) {
      throw Error(context + ": data_offsets " + offsets.dump() + " end before they begin");
    }
    if (end > data_size) {
      throw Error(context + ": data_offsets " + offsets.dump() + " end at byte offset " +
                  std::to_string(data_start + end) + ", past the end of the file (" +
                  std::to_string(bytes.size()) + " bytes); truncated?");
    }
    if (numel > std::numeric_limits<std::size_t>::max() / dtype->size) {
      throw Error(context + ": shape " + shape.dump() + " of " + info.dtype_name +
                  " needs 2^64 bytes or more; data_offsets " + offsets.dump() + " span " +
                  std::to_string(end - begin));
    }
    if (numel * dtype->size != end - begin) {
      throw Error(context + ": shape " + shape.dump() + " of " + info.dtype_name + " needs " +
                  std::to_string(numel * dtype->size) + " bytes but data_offsets " +
                  offsets.dump() + " span " + std::to_string(end - begin));
    }
    info.begin = data_start + static_cast<std::size_t>(begin);
    info.end = data_start + static_cast<std::size_t>(end);
    tensors_.push_back(std::move(info));
  }

  // Overlap check on the sorted ranges; empty tensors occupy no bytes and cannot overlap.
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : tensors_) {
    if (t.end > t.begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      throw Error(where + ": tensors '" + by_offset[i - 1]->name + "' (bytes " +
                  std::to_string(by_offset[i - 1]->begin) + ".." +
                  std::to_string(by_offset[i - 1]->end) + ") and '" + by_offset[i]->name +
                  "' (bytes " + std::to_string(by_offset[i]->begin) + ".." +
                  std::to_string(by_offset[i]->end) + ") overlap");
    }
  }
  for (std::size_t i = 0; i < tensors_.size(); ++i) by_name_.emplace(tensors_[i].name, i);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::data(const TensorInfo& tensor) const {
  return file_.bytes().subspan(tensor.begin, tensor.end - tensor.begin);
}

}  // namespace llmpi
