#include "schema.hpp"

#include <algorithm>
#include <cstddef>

#include "llmpi/results/results_file.hpp"

namespace llmpi::results_schema {

namespace {

// Rows are read and converted this many at a time, bounding what HDF5 allocates for strings.
constexpr hsize_t kReadBlock = 1024;

enum class Kind { text, int32, int64, float64, int32_list, float64_list };

// One member of a compound row: its name in the file, where it sits in the C struct, its kind.
// `bulk` members (text, per-choice values) are skipped when a reader asks for rows without them.
struct Field {
  const char* name;
  std::size_t offset;
  Kind kind;
  bool bulk = false;
};

h5::Datatype member_type(const h5::Checker& check, Kind kind, bool in_file) {
  const auto copy = [&](hid_t predefined) {
    return h5::Datatype(check.id(H5Tcopy(predefined), "copy an HDF5 datatype"));
  };
  switch (kind) {
    case Kind::text:
      return h5::string_type();
    case Kind::int32:
      return copy(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32);
    case Kind::int64:
      return copy(in_file ? H5T_STD_I64LE : H5T_NATIVE_INT64);
    case Kind::float64:
      return copy(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
    case Kind::int32_list:
      return h5::vlen_type(in_file ? H5T_STD_I32LE : H5T_NATIVE_INT32);
    case Kind::float64_list:
      return h5::vlen_type(in_file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
  }
  check.invalid("unknown member kind");
}

// The compound type of a row: in memory at the struct's offsets, in the file packed in order.
h5::Datatype row_type(const h5::Checker& check, std::span<const Field> fields, std::size_t row_size,
                      bool in_file, bool with_bulk = true) {
  std::vector<h5::Datatype> members;
  std::size_t packed = 0;
  for (const Field& field : fields) {
    members.push_back(member_type(check, field.kind, in_file));
    packed += H5Tget_size(members.back().id());
  }
  h5::Datatype type(
      check.id(H5Tcreate(H5T_COMPOUND, in_file ? packed : row_size), "create a row type"));
  std::size_t offset = 0;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::size_t size = H5Tget_size(members[i].id());
    if (with_bulk || !fields[i].bulk) {
      check.ok(H5Tinsert(type.id(), fields[i].name, in_file ? offset : fields[i].offset,
                         members[i].id()),
               std::string("add member ") + fields[i].name + " to a row type");
    }
    offset += size;
  }
  return type;
}

std::string text_of(const char* text) {
  return text != nullptr ? std::string(text) : std::string();
}
char* c_text(const std::string& text) {
  return const_cast<char*>(text.c_str());
}

template <typename T>
hvl_t list_of(const std::vector<T>& values) {
  return hvl_t{values.size(), const_cast<T*>(values.data())};
}
template <typename T>
std::vector<T> vector_of(const hvl_t& list) {
  const T* values = static_cast<const T*>(list.p);
  return values != nullptr ? std::vector<T>(values, values + list.len) : std::vector<T>();
}

// Rewrites a whole table: `rows` become rows 0..n-1 and the table has exactly n rows.
template <typename Row>
void replace_table(const h5::Checker& check, hid_t file, const char* path,
                   std::span<const Field> fields, const std::vector<Row>& rows) {
  const h5::Dataset dataset = h5::open_dataset(check, file, path);
  const h5::Datatype memory = row_type(check, fields, sizeof(Row), false);
  h5::write_rows(check, dataset.id(), path, memory.id(), 0, rows.size(), rows.size(), rows.data());
}

// Adds `rows` at the end of a table.
template <typename Row>
void append_table(const h5::Checker& check, hid_t file, const char* path,
                  std::span<const Field> fields, const std::vector<Row>& rows) {
  if (rows.empty()) return;
  const h5::Dataset dataset = h5::open_dataset(check, file, path);
  const h5::Datatype memory = row_type(check, fields, sizeof(Row), false);
  const auto first = static_cast<hsize_t>(h5::row_count(check, dataset.id(), path));
  h5::write_rows(check, dataset.id(), path, memory.id(), first, rows.size(), first + rows.size(),
                 rows.data());
}

// Reads a table block by block, handing each row to `take` while its strings are alive.
template <typename Row, typename Take>
void read_table(const h5::Checker& check, hid_t dataset, const std::string& name,
                std::span<const Field> fields, bool with_bulk, Take take) {
  const h5::Datatype memory = row_type(check, fields, sizeof(Row), false, with_bulk);
  const auto total = static_cast<hsize_t>(h5::row_count(check, dataset, name));
  for (hsize_t first = 0; first < total; first += kReadBlock) {
    const hsize_t count = std::min(kReadBlock, total - first);
    std::vector<Row> rows(count, Row{});
    const h5::VlenBuffer release(memory.id(), count, rows.data());
    h5::read_rows(check, dataset, name, memory.id(), first, count, rows.data());
    for (const Row& row : rows) take(row);
  }
}

template <typename Row, typename Take>
void read_table(const h5::Checker& check, hid_t file, const char* path,
                std::span<const Field> fields, Take take) {
  const h5::Dataset dataset = h5::open_dataset(check, file, path);
  read_table<Row>(check, dataset.id(), path, fields, true, take);
}

// --- /requests

struct RequestRow {
  char* id;
  char* task;
  char* category;
  char* status;
  char* error;
  std::int32_t prompt_tokens;
  std::int32_t generated_tokens;
  double latency_s;
  double ttft_s;
  double score;
  double score_normalised;
  std::int32_t chosen;
  hvl_t choice_loglik;
  hvl_t choice_loglik_normalised;
  char* generated_text;
  hvl_t generated_token_ids;
  char* detail;
  double loglikelihood;
  std::int64_t words;
  std::int64_t bytes;
};

const Field kRequestFields[] = {
    {"id", offsetof(RequestRow, id), Kind::text},
    {"task", offsetof(RequestRow, task), Kind::text},
    {"category", offsetof(RequestRow, category), Kind::text},
    {"status", offsetof(RequestRow, status), Kind::text},
    {"error", offsetof(RequestRow, error), Kind::text},
    {"prompt_tokens", offsetof(RequestRow, prompt_tokens), Kind::int32},
    {"generated_tokens", offsetof(RequestRow, generated_tokens), Kind::int32},
    {"latency_s", offsetof(RequestRow, latency_s), Kind::float64},
    {"ttft_s", offsetof(RequestRow, ttft_s), Kind::float64},
    {"score", offsetof(RequestRow, score), Kind::float64},
    {"score_normalised", offsetof(RequestRow, score_normalised), Kind::float64},
    {"chosen", offsetof(RequestRow, chosen), Kind::int32},
    {"choice_loglik", offsetof(RequestRow, choice_loglik), Kind::float64_list, true},
    {"choice_loglik_normalised", offsetof(RequestRow, choice_loglik_normalised), Kind::float64_list,
     true},
    {"generated_text", offsetof(RequestRow, generated_text), Kind::text, true},
    {"generated_token_ids", offsetof(RequestRow, generated_token_ids), Kind::int32_list, true},
    {"detail", offsetof(RequestRow, detail), Kind::text, true},
    {"loglikelihood", offsetof(RequestRow, loglikelihood), Kind::float64},
    {"words", offsetof(RequestRow, words), Kind::int64},
    {"bytes", offsetof(RequestRow, bytes), Kind::int64},
};
const Field kRequestIdField[] = {{"id", offsetof(RequestRow, id), Kind::text}};
// 256 rows of about 150 bytes (strings and lists live in the global heap): a chunk per ~64 KiB.
constexpr hsize_t kRequestChunkRows = 256;

// --- /run/ranks and /run/sessions

struct RankRow {
  std::int32_t rank;
  char* host;
  std::int32_t node;
  std::int32_t local_rank;
  std::int32_t device;
};

const Field kRankFields[] = {
    {"rank", offsetof(RankRow, rank), Kind::int32},
    {"host", offsetof(RankRow, host), Kind::text},
    {"node", offsetof(RankRow, node), Kind::int32},
    {"local_rank", offsetof(RankRow, local_rank), Kind::int32},
    {"device", offsetof(RankRow, device), Kind::int32},
};

struct SessionRow {
  char* start_time;
  char* end_time;
  std::int64_t first_row;
  char* ending;
};

const Field kSessionFields[] = {
    {"start_time", offsetof(SessionRow, start_time), Kind::text},
    {"end_time", offsetof(SessionRow, end_time), Kind::text},
    {"first_row", offsetof(SessionRow, first_row), Kind::int64},
    {"ending", offsetof(SessionRow, ending), Kind::text},
};

// --- /summary

struct TaskRow {
  char* task;
  char* category;
  std::int64_t requests;
  std::int64_t scored;
  std::int64_t failed;
  std::int64_t skipped;
  std::int64_t truncated;
  double mean_score;
  double score_stderr;
  double mean_latency_s;
  double p50_latency_s;
  double p95_latency_s;
  double mean_ttft_s;
  std::int64_t prompt_tokens;
  std::int64_t generated_tokens;
  double mean_score_normalised;
  double score_normalised_stderr;
  double word_perplexity;
  double byte_perplexity;
  double bits_per_byte;
};

const Field kTaskFields[] = {
    {"task", offsetof(TaskRow, task), Kind::text},
    {"category", offsetof(TaskRow, category), Kind::text},
    {"requests", offsetof(TaskRow, requests), Kind::int64},
    {"scored", offsetof(TaskRow, scored), Kind::int64},
    {"failed", offsetof(TaskRow, failed), Kind::int64},
    {"skipped", offsetof(TaskRow, skipped), Kind::int64},
    {"truncated", offsetof(TaskRow, truncated), Kind::int64},
    {"mean_score", offsetof(TaskRow, mean_score), Kind::float64},
    {"score_stderr", offsetof(TaskRow, score_stderr), Kind::float64},
    {"mean_latency_s", offsetof(TaskRow, mean_latency_s), Kind::float64},
    {"p50_latency_s", offsetof(TaskRow, p50_latency_s), Kind::float64},
    {"p95_latency_s", offsetof(TaskRow, p95_latency_s), Kind::float64},
    {"mean_ttft_s", offsetof(TaskRow, mean_ttft_s), Kind::float64},
    {"prompt_tokens", offsetof(TaskRow, prompt_tokens), Kind::int64},
    {"generated_tokens", offsetof(TaskRow, generated_tokens), Kind::int64},
    {"mean_score_normalised", offsetof(TaskRow, mean_score_normalised), Kind::float64},
    {"score_normalised_stderr", offsetof(TaskRow, score_normalised_stderr), Kind::float64},
    {"word_perplexity", offsetof(TaskRow, word_perplexity), Kind::float64},
    {"byte_perplexity", offsetof(TaskRow, byte_perplexity), Kind::float64},
    {"bits_per_byte", offsetof(TaskRow, bits_per_byte), Kind::float64},
};

struct CategoryRow {
  char* category;
  std::int64_t tasks;
  std::int64_t requests;
  std::int64_t scored;
  std::int64_t failed;
  std::int64_t skipped;
  std::int64_t truncated;
  double mean_score;
  double score_stderr;
  double macro_mean_score;
  double mean_latency_s;
  double mean_ttft_s;
  std::int64_t prompt_tokens;
  std::int64_t generated_tokens;
};

const Field kCategoryFields[] = {
    {"category", offsetof(CategoryRow, category), Kind::text},
    {"tasks", offsetof(CategoryRow, tasks), Kind::int64},
    {"requests", offsetof(CategoryRow, requests), Kind::int64},
    {"scored", offsetof(CategoryRow, scored), Kind::int64},
    {"failed", offsetof(CategoryRow, failed), Kind::int64},
    {"skipped", offsetof(CategoryRow, skipped), Kind::int64},
    {"truncated", offsetof(CategoryRow, truncated), Kind::int64},
    {"mean_score", offsetof(CategoryRow, mean_score), Kind::float64},
    {"score_stderr", offsetof(CategoryRow, score_stderr), Kind::float64},
    {"macro_mean_score", offsetof(CategoryRow, macro_mean_score), Kind::float64},
    {"mean_latency_s", offsetof(CategoryRow, mean_latency_s), Kind::float64},
    {"mean_ttft_s", offsetof(CategoryRow, mean_ttft_s), Kind::float64},
    {"prompt_tokens", offsetof(CategoryRow, prompt_tokens), Kind::int64},
    {"generated_tokens", offsetof(CategoryRow, generated_tokens), Kind::int64},
};

// --- /telemetry

struct SourceRow {
  std::int32_t rank;
  std::int32_t session;
  char* gpu;
  char* note;
  double planned_bytes;
  double interval_s;
};

const Field kSourceFields[] = {
    {"rank", offsetof(SourceRow, rank), Kind::int32},
    {"session", offsetof(SourceRow, session), Kind::int32},
    {"gpu", offsetof(SourceRow, gpu), Kind::text},
    {"note", offsetof(SourceRow, note), Kind::text},
    {"planned_bytes", offsetof(SourceRow, planned_bytes), Kind::float64},
    {"interval_s", offsetof(SourceRow, interval_s), Kind::float64},
};

struct SampleRow {
  std::int32_t rank;
  std::int32_t session;
  double time_s;
  double gpu_memory_used_bytes;
  double gpu_memory_total_bytes;
  double gpu_utilization_pct;
  double gpu_memory_utilization_pct;
  double gpu_temperature_c;
  double gpu_power_w;
  double gpu_sm_clock_mhz;
  std::int64_t gpu_throttle_reasons;
  double host_rss_bytes;
  double host_cpu_s;
  double phase_s[kTelemetryPhases];
};

#define LLMPI_SAMPLE_REAL(name) \
  { #name, offsetof(SampleRow, name), Kind::float64 }
#define LLMPI_SAMPLE_PHASE(name, i) \
  { name, offsetof(SampleRow, phase_s) + (i) * sizeof(double), Kind::float64 }
const Field kSampleFields[] = {
    {"rank", offsetof(SampleRow, rank), Kind::int32},
    {"session", offsetof(SampleRow, session), Kind::int32},
    LLMPI_SAMPLE_REAL(time_s),
    LLMPI_SAMPLE_REAL(gpu_memory_used_bytes),
    LLMPI_SAMPLE_REAL(gpu_memory_total_bytes),
    LLMPI_SAMPLE_REAL(gpu_utilization_pct),
    LLMPI_SAMPLE_REAL(gpu_memory_utilization_pct),
    LLMPI_SAMPLE_REAL(gpu_temperature_c),
    LLMPI_SAMPLE_REAL(gpu_power_w),
    LLMPI_SAMPLE_REAL(gpu_sm_clock_mhz),
    {"gpu_throttle_reasons", offsetof(SampleRow, gpu_throttle_reasons), Kind::int64},
    LLMPI_SAMPLE_REAL(host_rss_bytes),
    LLMPI_SAMPLE_REAL(host_cpu_s),
    // The time breakdown, in core/time_ledger.hpp's order.
    LLMPI_SAMPLE_PHASE("other_s", 0),
    LLMPI_SAMPLE_PHASE("loading_s", 1),
    LLMPI_SAMPLE_PHASE("prefill_s", 2),
    LLMPI_SAMPLE_PHASE("decode_s", 3),
    LLMPI_SAMPLE_PHASE("sampling_s", 4),
    LLMPI_SAMPLE_PHASE("scoring_s", 5),
    LLMPI_SAMPLE_PHASE("writing_s", 6),
    LLMPI_SAMPLE_PHASE("waiting_s", 7),
};
#undef LLMPI_SAMPLE_REAL
#undef LLMPI_SAMPLE_PHASE
static_assert(kTelemetryPhases == 8, "kSampleFields names eight phases");

// RunStats as attributes of /summary/throughput, in this order.
struct StatsAttribute {
  const char* name;
  double RunStats::*real = nullptr;
  std::int64_t RunStats::*count = nullptr;
};
const StatsAttribute kStatsAttributes[] = {
    {"wall_time_s", &RunStats::wall_time_s},
    {"requests", nullptr, &RunStats::requests},
    {"prompt_tokens", nullptr, &RunStats::prompt_tokens},
    {"generated_tokens", nullptr, &RunStats::generated_tokens},
    {"requests_per_s", &RunStats::requests_per_s},
    {"prompt_tokens_per_s", &RunStats::prompt_tokens_per_s},
    {"generated_tokens_per_s", &RunStats::generated_tokens_per_s},
    {"mean_latency_s", &RunStats::mean_latency_s},
    {"p50_latency_s", &RunStats::p50_latency_s},
    {"p95_latency_s", &RunStats::p95_latency_s},
    {"mean_ttft_s", &RunStats::mean_ttft_s},
};

void create_table(const h5::Checker& check, hid_t file, const char* path,
                  std::span<const Field> fields, std::size_t row_size, hsize_t chunk_rows) {
  const h5::Datatype type = row_type(check, fields, row_size, true);
  h5::create_table(check, file, path, type.id(), chunk_rows);
}

}  // namespace

void create_layout(const h5::Checker& check, hid_t file, const RunMetadata& metadata) {
  h5::write_attribute(check, file, "/", kVersionAttribute, kResultsSchemaVersion);

  const h5::Group run = h5::create_group(check, file, kRun);
  h5::write_attribute(check, run.id(), kRun, "preset_name", metadata.preset_name);
  h5::write_attribute(check, run.id(), kRun, "backend", metadata.backend);
  h5::write_attribute(check, run.id(), kRun, "command_line", metadata.command_line);
  h5::write_attribute(check, run.id(), kRun, "start_time", metadata.start_time);
  h5::write_attribute(check, run.id(), kRun, "end_time", metadata.end_time);
  const std::pair<const char*, int> topology[] = {{"world_size", metadata.world_size},
                                                  {"nodes", metadata.nodes},
                                                  {"tp", metadata.tp},
                                                  {"pp", metadata.pp},
                                                  {"dp", metadata.dp}};
  for (const auto& [name, value] : topology) {
    h5::write_attribute(check, run.id(), kRun, name, std::int64_t{value});
  }
  // Files of any length: datasets, not attributes (which stop at 64 KiB in this format).
  h5::write_string_dataset(check, file, "/run/preset_yaml", metadata.preset_yaml);
  h5::write_string_dataset(check, file, "/run/model_config_json", metadata.model_config_json);

  const h5::Group versions = h5::create_group(check, file, "/run/versions");
  for (const auto& [name, version] : metadata.versions) {
    h5::write_attribute(check, versions.id(), "/run/versions", name, version);
  }

  create_table(check, file, "/run/ranks", kRankFields, sizeof(RankRow), 64);
  std::vector<RankRow> ranks;
  for (const RankInfo& rank : metadata.ranks) {
    ranks.push_back({rank.rank, c_text(rank.host), rank.node, rank.local_rank, rank.device});
  }
  replace_table(check, file, "/run/ranks", kRankFields, ranks);
  create_table(check, file, kSessions, kSessionFields, sizeof(SessionRow), 16);

  create_table(check, file, kRequests, kRequestFields, sizeof(RequestRow), kRequestChunkRows);

  const h5::Group summary = h5::create_group(check, file, kSummary);
  h5::write_attribute(check, summary.id(), kSummary, "written_at", std::string());
  h5::write_attribute(check, summary.id(), kSummary, "request_rows", std::int64_t{0});
  create_table(check, file, kTaskSummaries, kTaskFields, sizeof(TaskRow), 64);
  create_table(check, file, kCategorySummaries, kCategoryFields, sizeof(CategoryRow), 16);
  h5::create_group(check, file, kThroughput);

  const h5::Group telemetry = h5::create_group(check, file, kTelemetry);
  h5::write_attribute(check, telemetry.id(), kTelemetry, "description",
                      std::string("per-rank GPU and host readings and time breakdown"));
  create_table(check, file, kTelemetrySources, kSourceFields, sizeof(SourceRow), 64);
  create_table(check, file, kTelemetrySamples, kSampleFields, sizeof(SampleRow), 1024);
}

std::int64_t check_version(const h5::Checker& check, hid_t file, VersionUse use) {
  if (!h5::has_attribute(check, file, "/", kVersionAttribute)) {
    check.invalid(std::string("is an HDF5 file but not an llmpi results file (no ") +
                  kVersionAttribute + " attribute on /)");
  }
  const std::int64_t version = h5::read_int_attribute(check, file, "/", kVersionAttribute);
  const std::string current = std::to_string(kResultsSchemaVersion);
  if (version < kOldestReadableVersion || version > kResultsSchemaVersion) {
    check.invalid("has results schema version " + std::to_string(version) +
                  "; this llmpi reads versions " + std::to_string(kOldestReadableVersion) + " to " +
                  current + " and resumes version " + current);
  }
  if (use == VersionUse::write && version != kResultsSchemaVersion) {
    check.invalid("has results schema version " + std::to_string(version) +
                  ", written by an older llmpi; this one appends only to version " + current +
                  " files: finish the run with the llmpi that started it, or start a new file");
  }
  return version;
}

RunMetadata read_metadata(const h5::Checker& check, hid_t file) {
  RunMetadata metadata;
  const h5::Group run = h5::open_group(check, file, kRun);
  metadata.preset_name = h5::read_string_attribute(check, run.id(), kRun, "preset_name");
  metadata.backend = h5::read_string_attribute(check, run.id(), kRun, "backend");
  metadata.command_line = h5::read_string_attribute(check, run.id(), kRun, "command_line");
  metadata.start_time = h5::read_string_attribute(check, run.id(), kRun, "start_time");
  metadata.end_time = h5::read_string_attribute(check, run.id(), kRun, "end_time");
  const std::pair<const char*, int*> topology[] = {{"world_size", &metadata.world_size},
                                                   {"nodes", &metadata.nodes},
                                                   {"tp", &metadata.tp},
                                                   {"pp", &metadata.pp},
                                                   {"dp", &metadata.dp}};
  for (const auto& [name, value] : topology) {
    *value = static_cast<int>(h5::read_int_attribute(check, run.id(), kRun, name));
  }
  metadata.preset_yaml = h5::read_string_dataset(check, file, "/run/preset_yaml");
  metadata.model_config_json = h5::read_string_dataset(check, file, "/run/model_config_json");

  const h5::Group versions = h5::open_group(check, file, "/run/versions");
  for (const std::string& name : h5::attribute_names(check, versions.id(), "/run/versions")) {
    metadata.versions[name] =
        h5::read_string_attribute(check, versions.id(), "/run/versions", name);
  }
  read_table<RankRow>(check, file, "/run/ranks", kRankFields, [&](const RankRow& row) {
    metadata.ranks.push_back({row.rank, text_of(row.host), row.node, row.local_rank, row.device});
  });
  return metadata;
}

void set_end_time(const h5::Checker& check, hid_t file, const std::string& end_time) {
  const h5::Group run = h5::open_group(check, file, kRun);
  h5::write_attribute(check, run.id(), kRun, "end_time", end_time);
}

std::vector<RunSession> read_sessions(const h5::Checker& check, hid_t file) {
  std::vector<RunSession> sessions;
  read_table<SessionRow>(check, file, kSessions, kSessionFields, [&](const SessionRow& row) {
    sessions.push_back(
        {text_of(row.start_time), text_of(row.end_time), row.first_row, text_of(row.ending)});
  });
  return sessions;
}

void write_session(const h5::Checker& check, hid_t file, std::int64_t index,
                   const RunSession& session) {
  const h5::Dataset dataset = h5::open_dataset(check, file, kSessions);
  const h5::Datatype memory = row_type(check, kSessionFields, sizeof(SessionRow), false);
  const SessionRow row{c_text(session.start_time), c_text(session.end_time), session.first_row,
                       c_text(session.ending)};
  const auto first = static_cast<hsize_t>(index);
  const auto size = std::max<hsize_t>(
      first + 1, static_cast<hsize_t>(h5::row_count(check, dataset.id(), kSessions)));
  h5::write_rows(check, dataset.id(), kSessions, memory.id(), first, 1, size, &row);
}

void write_requests(const h5::Checker& check, hid_t requests, std::int64_t first,
                    std::span<const RequestResult> rows) {
  std::vector<RequestRow> table;
  table.reserve(rows.size());
  std::vector<std::string> statuses;
  for (const RequestResult& r : rows) {
    statuses.push_back(status_name(r.status));
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RequestResult& r = rows[i];
    table.push_back({c_text(r.id),
                     c_text(r.task),
                     c_text(r.category),
                     c_text(statuses[i]),
                     c_text(r.error),
                     r.prompt_tokens,
                     r.generated_tokens,
                     r.latency_s,
                     r.ttft_s,
                     r.score,
                     r.score_normalised,
                     r.chosen,
                     list_of(r.choice_loglik),
                     list_of(r.choice_loglik_normalised),
                     c_text(r.generated_text),
                     list_of(r.generated_token_ids),
                     c_text(r.detail),
                     r.loglikelihood,
                     r.words,
                     r.bytes});
  }
  const h5::Datatype memory = row_type(check, kRequestFields, sizeof(RequestRow), false);
  const auto start = static_cast<hsize_t>(first);
  h5::write_rows(check, requests, kRequests, memory.id(), start, table.size(), start + table.size(),
                 table.data());
}

std::vector<RequestResult> read_requests(const h5::Checker& check, hid_t requests, bool with_text,
                                         std::int64_t version) {
  std::vector<RequestResult> results;
  read_table<RequestRow>(
      check, requests, kRequests, kRequestFields, with_text, [&](const RequestRow& row) {
        RequestResult& r = results.emplace_back();
        r.id = text_of(row.id);
        r.task = text_of(row.task);
        r.category = text_of(row.category);
        const auto status = parse_request_status(text_of(row.status));
        if (!status) {
          check.invalid("request '" + r.id + "' has status '" + text_of(row.status) +
                        "' (valid: ok, truncated, skipped, failed)");
        }
        r.status = *status;
        r.error = text_of(row.error);
        r.prompt_tokens = row.prompt_tokens;
        r.generated_tokens = row.generated_tokens;
        r.latency_s = row.latency_s;
        r.ttft_s = row.ttft_s;
        r.score = row.score;
        // Version 1 rows had no normalised score: it was the score except for multiple choice.
        r.score_normalised = version >= 2 ? row.score_normalised : row.score;
        r.chosen = row.chosen;
        r.choice_loglik = vector_of<double>(row.choice_loglik);
        r.choice_loglik_normalised = vector_of<double>(row.choice_loglik_normalised);
        r.generated_text = text_of(row.generated_text);
        r.generated_token_ids = vector_of<std::int32_t>(row.generated_token_ids);
        r.detail = text_of(row.detail);
        // Version 4 added the perplexity columns.
        if (version >= 4) {
          r.loglikelihood = row.loglikelihood;
          r.words = row.words;
          r.bytes = row.bytes;
        }
      });
  return results;
}

std::vector<std::string> read_request_ids(const h5::Checker& check, hid_t requests) {
  std::vector<std::string> ids;
  read_table<RequestRow>(check, requests, kRequests, kRequestIdField, true,
                         [&](const RequestRow& row) { ids.push_back(text_of(row.id)); });
  return ids;
}

void truncate_requests(const h5::Checker& check, hid_t requests, std::int64_t rows) {
  const auto size = static_cast<hsize_t>(rows);
  check.ok(H5Dset_extent(requests, &size),
           std::string("shrink ") + kRequests + " to " + std::to_string(rows) + " rows");
}

void write_summaries(const h5::Checker& check, hid_t file, std::span<const TaskSummary> tasks,
                     std::span<const CategorySummary> categories, const RunStats& stats,
                     std::int64_t request_rows) {
  std::vector<TaskRow> task_rows;
  for (const TaskSummary& t : tasks) {
    task_rows.push_back({c_text(t.task),
                         c_text(t.category),
                         t.requests,
                         t.scored,
                         t.failed,
                         t.skipped,
                         t.truncated,
                         t.mean_score,
                         t.score_stderr,
                         t.mean_latency_s,
                         t.p50_latency_s,
                         t.p95_latency_s,
                         t.mean_ttft_s,
                         t.prompt_tokens,
                         t.generated_tokens,
                         t.mean_score_normalised,
                         t.score_normalised_stderr,
                         t.word_perplexity,
                         t.byte_perplexity,
                         t.bits_per_byte});
  }
  replace_table(check, file, kTaskSummaries, kTaskFields, task_rows);
  std::vector<CategoryRow> category_rows;
  for (const CategorySummary& c : categories) {
    category_rows.push_back({c_text(c.category), c.tasks, c.requests, c.scored, c.failed, c.skipped,
                             c.truncated, c.mean_score, c.score_stderr, c.macro_mean_score,
                             c.mean_latency_s, c.mean_ttft_s, c.prompt_tokens, c.generated_tokens});
  }
  replace_table(check, file, kCategorySummaries, kCategoryFields, category_rows);

  const h5::Group throughput = h5::open_group(check, file, kThroughput);
  for (const StatsAttribute& attribute : kStatsAttributes) {
    if (attribute.real != nullptr) {
      h5::write_attribute(check, throughput.id(), kThroughput, attribute.name,
                          stats.*attribute.real);
    } else {
      h5::write_attribute(check, throughput.id(), kThroughput, attribute.name,
                          stats.*attribute.count);
    }
  }
  const h5::Group summary = h5::open_group(check, file, kSummary);
  h5::write_attribute(check, summary.id(), kSummary, "written_at", utc_now_iso());
  h5::write_attribute(check, summary.id(), kSummary, "request_rows", request_rows);
}

std::vector<TaskSummary> read_task_summaries(const h5::Checker& check, hid_t file,
                                             std::int64_t version) {
  std::vector<TaskSummary> tasks;
  read_table<TaskRow>(check, file, kTaskSummaries, kTaskFields, [&](const TaskRow& row) {
    tasks.push_back({text_of(row.task), text_of(row.category), row.requests, row.scored, row.failed,
                     row.skipped, row.truncated, row.mean_score, row.score_stderr,
                     row.mean_latency_s, row.p50_latency_s, row.p95_latency_s, row.mean_ttft_s,
                     row.prompt_tokens, row.generated_tokens,
                     // Version 4 added the normalised means and the perplexities.
                     version >= 4 ? row.mean_score_normalised : kNotScored,
                     version >= 4 ? row.score_normalised_stderr : kNotScored,
                     version >= 4 ? row.word_perplexity : kNotScored,
                     version >= 4 ? row.byte_perplexity : kNotScored,
                     version >= 4 ? row.bits_per_byte : kNotScored});
  });
  return tasks;
}

std::vector<CategorySummary> read_category_summaries(const h5::Checker& check, hid_t file) {
  std::vector<CategorySummary> categories;
  read_table<CategoryRow>(
      check, file, kCategorySummaries, kCategoryFields, [&](const CategoryRow& row) {
        categories.push_back({text_of(row.category), row.tasks, row.requests, row.scored,
                              row.failed, row.skipped, row.truncated, row.mean_score,
                              row.score_stderr, row.macro_mean_score, row.mean_latency_s,
                              row.mean_ttft_s, row.prompt_tokens, row.generated_tokens});
      });
  return categories;
}

bool has_run_stats(const h5::Checker& check, hid_t file) {
  const h5::Group throughput = h5::open_group(check, file, kThroughput);
  return h5::has_attribute(check, throughput.id(), kThroughput, "wall_time_s");
}

RunStats read_run_stats(const h5::Checker& check, hid_t file) {
  const h5::Group throughput = h5::open_group(check, file, kThroughput);
  RunStats stats;
  for (const StatsAttribute& attribute : kStatsAttributes) {
    if (attribute.real != nullptr) {
      stats.*attribute.real =
          h5::read_double_attribute(check, throughput.id(), kThroughput, attribute.name);
    } else {
      stats.*attribute.count =
          h5::read_int_attribute(check, throughput.id(), kThroughput, attribute.name);
    }
  }
  return stats;
}

void append_sources(const h5::Checker& check, hid_t file, std::span<const TelemetrySource> rows) {
  std::vector<SourceRow> table;
  for (const TelemetrySource& r : rows) {
    table.push_back(
        {r.rank, r.session, c_text(r.gpu), c_text(r.note), r.planned_bytes, r.interval_s});
  }
  append_table(check, file, kTelemetrySources, kSourceFields, table);
}

void append_samples(const h5::Checker& check, hid_t file, std::span<const TelemetrySample> rows) {
  std::vector<SampleRow> table;
  for (const TelemetrySample& r : rows) {
    SampleRow row{r.rank,
                  r.session,
                  r.time_s,
                  r.gpu_memory_used_bytes,
                  r.gpu_memory_total_bytes,
                  r.gpu_utilization_pct,
                  r.gpu_memory_utilization_pct,
                  r.gpu_temperature_c,
                  r.gpu_power_w,
                  r.gpu_sm_clock_mhz,
                  r.gpu_throttle_reasons,
                  r.host_rss_bytes,
                  r.host_cpu_s,
                  {}};
    for (int i = 0; i < kTelemetryPhases && static_cast<std::size_t>(i) < r.phase_s.size(); ++i) {
      row.phase_s[i] = r.phase_s[static_cast<std::size_t>(i)];
    }
    table.push_back(row);
  }
  append_table(check, file, kTelemetrySamples, kSampleFields, table);
}

std::vector<TelemetrySource> read_sources(const h5::Checker& check, hid_t file) {
  std::vector<TelemetrySource> sources;
  read_table<SourceRow>(check, file, kTelemetrySources, kSourceFields, [&](const SourceRow& row) {
    sources.push_back({row.rank, row.session, text_of(row.gpu), text_of(row.note),
                       row.planned_bytes, row.interval_s});
  });
  return sources;
}

std::vector<TelemetrySample> read_samples(const h5::Checker& check, hid_t file) {
  std::vector<TelemetrySample> samples;
  read_table<SampleRow>(check, file, kTelemetrySamples, kSampleFields, [&](const SampleRow& row) {
    TelemetrySample s;
    s.rank = row.rank;
    s.session = row.session;
    s.time_s = row.time_s;
    s.gpu_memory_used_bytes = row.gpu_memory_used_bytes;
    s.gpu_memory_total_bytes = row.gpu_memory_total_bytes;
    s.gpu_utilization_pct = row.gpu_utilization_pct;
    s.gpu_memory_utilization_pct = row.gpu_memory_utilization_pct;
    s.gpu_temperature_c = row.gpu_temperature_c;
    s.gpu_power_w = row.gpu_power_w;
    s.gpu_sm_clock_mhz = row.gpu_sm_clock_mhz;
    s.gpu_throttle_reasons = row.gpu_throttle_reasons;
    s.host_rss_bytes = row.host_rss_bytes;
    s.host_cpu_s = row.host_cpu_s;
    s.phase_s.assign(std::begin(row.phase_s), std::end(row.phase_s));
    samples.push_back(std::move(s));
  });
  return samples;
}

}  // namespace llmpi::results_schema
