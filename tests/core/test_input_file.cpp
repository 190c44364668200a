#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
struct Dir {
  fs::path path = fs::temp_directory_path() / ("llmpi-input-" + std::to_string(getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};
}  // namespace

TEST_CASE("input files that are not readable regular files are named for what they are",
          "[core][bad-input]") {
  Dir dir;
  const fs::path missing = dir.path / "missing.json";
  CHECK_THROWS_WITH(read_input_file(missing, "model config", 1024),
                    Contains("model config " + missing.string() + " does not exist"));
  const fs::path loop = dir.path / "loop.json";
  fs::create_symlink(loop, loop);
  CHECK_THROWS_WITH(read_input_file(loop, "model config", 1024),
                    Contains(loop.string()) && Contains("symbolic links loop"));
  CHECK_THROWS_WITH(read_input_file(dir.path, "task file", 1024),
                    Contains("is a directory, not a regular file"));
  const fs::path fifo = dir.path / "fifo.jsonl";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(read_input_file(fifo, "dataset", 1024), Contains("is a FIFO"));
  CHECK_THROWS_WITH(require_regular_file(fifo, "dataset"), Contains("is a FIFO"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));  // never waits
  const fs::path big = dir.path / "big.yaml";
  std::ofstream(big) << std::string(2048, 'x');
  CHECK_THROWS_WITH(read_input_file(big, "preset", 1024),
                    Contains("is 2048 bytes, more than the 1024 llmpi reads for it"));
  std::ofstream(dir.path / "fine.json") << "{\"a\": 1}";
  CHECK(read_input_file(dir.path / "fine.json", "model config", 1024) == "{\"a\": 1}");
}

TEST_CASE("deeply nested JSON is refused before it is parsed", "[core][bad-input]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK_THROWS_WITH(parse_json(deep, "data.jsonl:7"),
                    Contains("data.jsonl:7: JSON nested more than 128 levels deep"));
  // Brackets inside strings do not count; real documents parse.
  const auto fine = parse_json("{\"text\": \"" + std::string(500, '[') + "\", \"n\": [[1]]}", "x");
  CHECK(fine.at("n")[0][0] == 1);
  CHECK_THROWS_WITH(parse_json("{\"a\": ", "config.json"), Contains("config.json: not valid JSON"));
}
