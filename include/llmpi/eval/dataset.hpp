#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmpi {

// One JSONL record and where it came from, for messages ("FILE:LINE").
struct DatasetRecord {
  std::size_t line = 0;
  nlohmann::json fields;
};

struct Dataset {
  std::string source;
  std::vector<DatasetRecord> records;
  std::vector<std::string> skipped;  // one message per bad line, when skipping was asked for
};

struct DatasetOptions {
  std::vector<std::string> required_fields;  // every record must have them
  bool skip_bad = false;  // count and describe bad lines instead of stopping at the first
  std::size_t limit = 0;  // 0: every record
};

// Reads a JSON Lines file: one object per non-empty line. A line that is not valid JSON, not
// an object, or lacks a required field stops the read with "FILE:LINE: ..." naming the field
// and what the task needs, or, with skip_bad, is counted and described in `skipped`.
Dataset read_jsonl(const std::filesystem::path& path, const DatasetOptions& options);

}  // namespace llmpi
