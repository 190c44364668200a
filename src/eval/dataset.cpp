#include "llmpi/eval/dataset.hpp"

#include <fstream>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {
std::string list(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}
}  // namespace

Dataset read_jsonl(const std::filesystem::path& path, const DatasetOptions& options) {
  std::ifstream file(path);
  if (!file) throw Error("cannot open dataset " + path.string());
  Dataset dataset;
  dataset.source = path.string();
  std::size_t line_number = 0;
  for (std::string line; std::getline(file, line);) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = dataset.source + ":" + std::to_string(line_number);
    std::string problem;
    nlohmann::json fields;
    try {
      fields = nlohmann::json::parse(line);
      if (!fields.is_object())
        problem = "expected a JSON object, got " + std::string(fields.type_name());
    } catch (const nlohmann::json::parse_error& e) {
      problem = std::string("not valid JSON: ") + e.what();
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
