#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "llmpi/results/records.hpp"

namespace llmpi {

// The layout version written to the root attribute `llmpi_results_schema_version`.
inline constexpr std::int64_t kResultsSchemaVersion = 1;

// Now, as ISO 8601 UTC to the second: "2024-05-01T12:34:56Z".
std::string utc_now_iso();

enum class OpenMode {
  fail_if_exists,  // refuse an existing file (the default: results are never lost by accident)
  overwrite,       // replace it (--overwrite)
};

// The results of one run, one HDF5 file (schema: docs/results.md), written by one rank as the
// run goes. Rows reach the disk at flush(): call it after every batch, and a killed job loses
// at most the rows appended since; resume() then reopens the file and reports which requests
// are done. Every failure is an llmpi::Error naming the file and the object. One thread uses it.
class ResultsFile {
 public:
  static ResultsFile create(const std::filesystem::path& path, const RunMetadata& metadata,
                            OpenMode mode = OpenMode::fail_if_exists);
  // Reopens a file this schema version wrote, starts a new session in /run/sessions, clears
  // the end time and drops trailing rows a crash left without an id.
  static ResultsFile resume(const std::filesystem::path& path,
                            const std::string& session_start_time = utc_now_iso());

  ~ResultsFile();
  ResultsFile(ResultsFile&&) noexcept;
  ResultsFile& operator=(ResultsFile&&) noexcept;

  const std::filesystem::path& path() const;
  const RunMetadata& metadata() const;  // as stored (after resume: as the first session wrote it)
  // Every id in /requests: on resume, the requests to skip.
  const std::unordered_set<std::string>& finished_ids() const;
  std::int64_t rows() const;
  std::int64_t trimmed_rows() const;  // incomplete rows resume() dropped

  // Adds the rows at the end of /requests. The whole batch is checked first (ids non-empty,
  // valid UTF-8 and new; choice vectors of equal length; `chosen` in range) and refused without
  // writing anything. Generated text is stored with invalid UTF-8 and NUL replaced by U+FFFD.
  void append(std::span<const RequestResult> batch);
  // Everything written so far reaches the file and the disk (H5Fflush, then fsync).
  void flush();

  // Every row in /requests, this session's and earlier ones'; without text and per-choice
  // values when `with_text` is false.
  std::vector<RequestResult> read_requests(bool with_text = true) const;

  // /summary: the task rows, category rows derived from them, and the throughput attributes.
  // Written again (replacing the old) at the end of a resumed run. Flushes.
  void write_summaries(const std::vector<TaskSummary>& tasks, const RunStats& stats);
  // The end of the run, in /run and this session's row. Flushes.
  void set_end_time(const std::string& end_time = utc_now_iso());

  // Flushes and closes, reporting any failure; the destructor closes without reporting.
  void close();

 private:
  struct Impl;
  explicit ResultsFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A results file opened read-only. While a writer holds the file, readers need
// HDF5_USE_FILE_LOCKING=FALSE in their environment.
class ResultsReader {
 public:
  explicit ResultsReader(const std::filesystem::path& path);
  ~ResultsReader();
  ResultsReader(ResultsReader&&) noexcept;
  ResultsReader& operator=(ResultsReader&&) noexcept;

  const RunMetadata& metadata() const;
  std::vector<RunSession> sessions() const;
  std::int64_t rows() const;
  std::vector<RequestResult> requests(bool with_text = true) const;
  // Empty until write_summaries ran.
  std::vector<TaskSummary> task_summaries() const;
  std::vector<CategorySummary> category_summaries() const;
  std::optional<RunStats> run_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmpi
