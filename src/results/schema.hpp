#pragma once

// The layout of a results file (docs/results.md), shared by the writer and the reader.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hdf5.hpp"
#include "llmpi/results/records.hpp"

namespace llmpi::results_schema {

inline constexpr const char* kVersionAttribute = "llmpi_results_schema_version";
inline constexpr const char* kRequests = "/requests";
inline constexpr const char* kRun = "/run";
inline constexpr const char* kSessions = "/run/sessions";
inline constexpr const char* kSummary = "/summary";
inline constexpr const char* kTaskSummaries = "/summary/tasks";
inline constexpr const char* kCategorySummaries = "/summary/categories";
inline constexpr const char* kThroughput = "/summary/throughput";
inline constexpr const char* kTelemetry = "/telemetry";
inline constexpr const char* kTelemetrySources = "/telemetry/sources";
inline constexpr const char* kTelemetrySamples = "/telemetry/samples";

// Version 1 files (before request statuses) are still read; only current ones are appended to.
inline constexpr std::int64_t kOldestReadableVersion = 1;
enum class VersionUse { read, write };

// Creates every group, dataset and attribute of an empty run.
void create_layout(const h5::Checker& check, hid_t file, const RunMetadata& metadata);
// Returns the file's layout version; refuses a file without the version attribute, one this
// llmpi cannot read, or (for writing) one older than the current version.
std::int64_t check_version(const h5::Checker& check, hid_t file, VersionUse use);
RunMetadata read_metadata(const h5::Checker& check, hid_t file);
void set_end_time(const h5::Checker& check, hid_t file, const std::string& end_time);

std::vector<RunSession> read_sessions(const h5::Checker& check, hid_t file);
// Writes row `index` of /run/sessions (index == rows: a new session).
void write_session(const h5::Checker& check, hid_t file, std::int64_t index,
                   const RunSession& session);

// /requests. Strings must already be valid UTF-8 without NUL.
void write_requests(const h5::Checker& check, hid_t requests, std::int64_t first,
                    std::span<const RequestResult> rows);
// `version`: the file's layout version (what the rows lack in older ones is filled in).
std::vector<RequestResult> read_requests(const h5::Checker& check, hid_t requests, bool with_text,
                                         std::int64_t version);
// Row by row; an empty string where a row has no id (fill value of a row a crash left).
std::vector<std::string> read_request_ids(const h5::Checker& check, hid_t requests);
void truncate_requests(const h5::Checker& check, hid_t requests, std::int64_t rows);

void write_summaries(const h5::Checker& check, hid_t file, std::span<const TaskSummary> tasks,
                     std::span<const CategorySummary> categories, const RunStats& stats,
                     std::int64_t request_rows);
std::vector<TaskSummary> read_task_summaries(const h5::Checker& check, hid_t file,
                                             std::int64_t version);
std::vector<CategorySummary> read_category_summaries(const h5::Checker& check, hid_t file);
bool has_run_stats(const h5::Checker& check, hid_t file);
RunStats read_run_stats(const h5::Checker& check, hid_t file);

// /telemetry (version 3 on).
void append_sources(const h5::Checker& check, hid_t file, std::span<const TelemetrySource> rows);
void append_samples(const h5::Checker& check, hid_t file, std::span<const TelemetrySample> rows);
std::vector<TelemetrySource> read_sources(const h5::Checker& check, hid_t file);
std::vector<TelemetrySample> read_samples(const h5::Checker& check, hid_t file);

}  // namespace llmpi::results_schema
