#pragma once

// Reading the files users hand llmpi (configs, tokenizers, presets, task files, datasets)
// without surprises: only regular files, within a size limit, never a blocking open, and an
// error that says what is wrong with the path rather than "missing".
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace llmpi {

// Refuses (llmpi::Error naming `what` and the path) a path that does not exist, loops through
// symbolic links, cannot be read, or is not a regular file (a FIFO would block, a directory
// or device mislead).
void require_regular_file(const std::filesystem::path& path, const std::string& what);

// The whole file, after require_regular_file; refuses one larger than max_bytes.
std::string read_input_file(const std::filesystem::path& path, const std::string& what,
                            std::uint64_t max_bytes);

// How deeply JSON may nest: far beyond any real config, tokenizer or dataset record, far
// below what could exhaust a stack.
inline constexpr int kMaxJsonDepth = 128;

// Parses JSON after checking, without recursion, that it nests at most max_depth deep.
// Errors: llmpi::Error starting with `where` ("FILE" or "FILE:LINE").
nlohmann::json parse_json(std::string_view text, const std::string& where,
                          int max_depth = kMaxJsonDepth);

}  // namespace llmpi
