#include "llmpi/eval/dataset.hpp"

#include <fstream>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"

namespace llmpi {

namespace {

// One record (line) of a dataset: far beyond any real one, and bounded so a corrupt file
// cannot take all memory.
constexpr std::size_t kMaxRecordBytes = std::size_t{64} << 20;

std::string list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// One line without its newline, holding at most kMaxRecordBytes of it (`bytes`: its length);
// false at the end of the file.
bool read_line(std::istream& in, std::string& line, std::size_t& bytes) {
  line.clear();
  bytes = 0;
  std::streambuf* buffer = in.rdbuf();
  int c = buffer->sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  for (; c != std::char_traits<char>::eof() && c != '\n'; c = buffer->sbumpc()) {
    if (++bytes <= kMaxRecordBytes) line.push_back(static_cast<char>(c));
  }
  return true;
}

}  // namespace

Dataset read_jsonl(const std::filesystem::path& path, const DatasetOptions& options) {
  require_regular_file(path, "dataset");
  std::ifstream file(path);
  if (!file) throw Error("cannot open dataset " + path.string());
  Dataset dataset;
  dataset.source = path.string();
  std::size_t line_number = 0;
  std::size_t line_bytes = 0;
  for (std::string line; read_line(file, line, line_bytes);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = dataset.source + ":" + std::to_string(line_number);
    std::string problem;
    nlohmann::json fields;
    if (line_bytes > kMaxRecordBytes) {
      problem = "a record of " + std::to_string(line_bytes) + " bytes, more than the " +
                std::to_string(kMaxRecordBytes) + " llmpi reads";
    } else {
      try {
        fields = parse_json(line, where);
        if (!fields.is_object())
          problem = "expected a JSON object, got " + std::string(fields.type_name());
      } catch (const Error& e) {
        problem = std::string(e.what()).substr(where.size() + 2);  // where is said below
      }
    }
    for (const auto& field : options.required_fields) {
      if (!problem.empty()) break;
      if (!fields.contains(field)) {
        problem =
            "missing field '" + field + "' (this task needs " + list(options.required_fields) + ")";
      }
    }
    if (!problem.empty()) {
      if (!options.skip_bad) throw Error(where + ": " + problem + " (or run with --skip-bad)");
      dataset.skipped.push_back(where + ": " + problem);
      continue;
    }
    dataset.records.push_back({line_number, std::move(fields)});
    if (options.limit != 0 && dataset.records.size() >= options.limit) break;
  }
  return dataset;
}

}  // namespace llmpi
