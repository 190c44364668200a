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
// Version 2 added each request's status, error, normalised score and detail, the failed, skipped
// and truncated counts of the summaries, and how each session ended; version 3 the telemetry
// tables; version 4 the perplexity columns (each request's log-likelihood, words and bytes, each
// task's perplexities). Versions 1 to 3 are still read.
inline constexpr std::int64_t kResultsSchemaVersion = 4;

// Now, as ISO 8601 UTC to the second: "2024-05-01T12:34:56Z".
std::string utc_now_iso();

enum class OpenMode {
  fail_if_exists,  // refuse an existing file (the default: results are never lost by accident)
  overwrite,       // replace it (--overwrite)
};

// "a directory", "a FIFO", "a regular file", ...: for messages about paths.
std::string file_kind(const std::filesystem::file_status& status);
// Whether another process holds `path` open the way HDF5 does (its flock).
bool held_by_another_process(const std::filesystem::path& path);

// The results of one run, one HDF5 file (schema: docs/results.md), written by one rank as the
// run goes. Rows reach the disk at flush(): call it after every batch, and a killed job loses
// at most the rows appended since; resume() then reopens the file and reports which requests
// are done. Every failure is an llmpi::Error naming the file and the object. One thread uses it.
//
// The file is never damaged by llmpi itself: create() builds the new file under a staging name
// beside `path` and renames it into place only once it is complete (a path that is not a
// regular file, or one another process holds open, is refused and left alone); a write that
// fails (ENOSPC, EIO, EFBIG) abandons the file as last flushed, readable and resumable; a write
// the filesystem has no room for is refused before it starts.
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
  // Telemetry of this session's ranks, stamped with the session: where it comes from (once per
  // session) and its samples (every round). Reach the disk at the next flush.
  void append_sources(std::span<const TelemetrySource> sources);
  void append_samples(std::span<const TelemetrySample> samples);
  // Everything written so far reaches the file and the disk (H5Fflush, then fsync).
  void flush();

  // Every row in /requests, this session's and earlier ones'; without text and per-choice
  // values when `with_text` is false.
  std::vector<RequestResult> read_requests(bool with_text = true) const;

  // /summary: the task rows, category rows derived from them, and the throughput attributes.
  // Written again (replacing the old) at the end of a resumed run. Flushes.
  void write_summaries(const std::vector<TaskSummary>& tasks, const RunStats& stats);
  // The end of the run, in /run and this session's row ("finished"). Flushes.
  void set_end_time(const std::string& end_time = utc_now_iso());
  // The end of this session, and how it ended ("finished" also ends the run; "interrupted by
  // SIGTERM", "failed: ..." leave the run open for --resume). Flushes.
  void end_session(const std::string& ending, const std::string& end_time = utc_now_iso());
  // Whether a failed write made the file stop taking writes (it stays as last flushed).
  bool abandoned() const;

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
  std::int64_t schema_version() const;
  std::vector<RunSession> sessions() const;
  std::int64_t rows() const;
  std::vector<RequestResult> requests(bool with_text = true) const;
  // Empty until write_summaries ran.
  std::vector<TaskSummary> task_summaries() const;
  std::vector<CategorySummary> category_summaries() const;
  std::optional<RunStats> run_stats() const;
  // Empty for files before version 3.
  std::vector<TelemetrySource> telemetry_sources() const;
  std::vector<TelemetrySample> telemetry_samples() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llmpi
