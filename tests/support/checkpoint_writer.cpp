#include "checkpoint_writer.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "llmpi/model/safetensors.hpp"

namespace llmpi::testing {

std::vector<RawTensor> read_raw_tensors(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  std::vector<RawTensor> tensors;
  for (const TensorInfo& info : file.tensors()) {
    const auto data = file.data(info);
    tensors.push_back({info.name, info.dtype_name, info.shape, {data.begin(), data.end()}});
  }
  return tensors;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<RawTensor>& tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::size_t offset = 0;
  for (const RawTensor& tensor : tensors) {
    header[tensor.name] = {{"dtype", tensor.dtype},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  const std::string text = header.dump();
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out << text;
  for (const RawTensor& tensor : tensors) {
    out.write(reinterpret_cast<const char*>(tensor.bytes.data()),
              static_cast<std::streamsize>(tensor.bytes.size()));
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

void write_raw_safetensors(const std::filesystem::path& path, const std::string& header,
                           std::size_t data_bytes, std::uint64_t declared_header_length) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i)
    out.put(static_cast<char>((declared_header_length >> (8 * i)) & 0xff));
  out << header;
  out << std::string(data_bytes, '\0');
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace llmpi::testing
