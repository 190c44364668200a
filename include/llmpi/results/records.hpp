#pragma once

// What a run records, as plain values: the results file (docs/results.md) stores exactly these.
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace llmpi {

inline constexpr double kNotScored = std::numeric_limits<double>::quiet_NaN();

// Where one MPI rank ran.
struct RankInfo {
  int rank = 0;
  std::string host;
  int node = 0;
  int local_rank = 0;
  int device = -1;  // GPU index; -1 on the CPU backend
};

struct RunMetadata {
  std::string preset_name;
  std::string preset_yaml;        // the preset file verbatim
  std::string model_config_json;  // the checkpoint's config.json verbatim
  std::string backend;            // "cpu" or "cuda"
  std::string command_line;
  // "llmpi", "mpi", "cuda", "nccl", ... -> version; "hdf5" is filled in from the library.
  std::map<std::string, std::string> versions;
  std::string start_time;  // ISO 8601 UTC; empty: now
  std::string end_time;    // empty until the run finishes
  int world_size = 1;
  int nodes = 1;
  int tp = 1;
  int pp = 1;
  int dp = 1;
  std::vector<RankInfo> ranks;  // empty, or one per rank in rank order
};

// What became of one request. `ok`: it ran and was scored. `truncated`: it ran on a prompt
// cut from the left to fit the context, and was scored. `skipped`: not run (its task's policy
// for prompts longer than the context); not scored. `failed`: it could not be run or scored
// (tokenizer, non-finite logits, sandbox, scorer, a prompt too long under policy `fail`);
// `error` says why, and its task's policy decides whether it counts as wrong or is excluded.
enum class RequestStatus : std::int8_t { ok, truncated, skipped, failed };

std::string status_name(RequestStatus status);
// The status a name stands for; "" (rows of files before statuses) is ok.
std::optional<RequestStatus> parse_request_status(const std::string& name);

// One request, from the evaluator that produced it to its row in the results file: the one
// record every stage passes on, every field kept.
struct RequestResult {
  std::string id;  // unique in the run: what --resume skips
  std::string task;
  std::string category;
  RequestStatus status = RequestStatus::ok;
  std::string error;  // why it failed, was skipped or was truncated; empty when ok
  std::int32_t prompt_tokens = 0;
  std::int32_t generated_tokens = 0;
  double latency_s = 0;       // admission to last token (and its scoring)
  double ttft_s = 0;          // admission to first generated token
  double score = kNotScored;  // NaN: not scored
  // Multiple choice: correct by length-normalised log-likelihood; otherwise equal to score.
  double score_normalised = kNotScored;
  std::string generated_text;
  std::vector<std::int32_t> generated_token_ids;
  // Multiple choice: the log-likelihood of each choice's continuation, and the same divided by
  // its length; both empty otherwise.
  std::vector<double> choice_loglik;
  std::vector<double> choice_loglik_normalised;
  std::int32_t chosen = -1;  // index into the choices; -1 when not multiple choice
  std::string detail;        // the extracted answer, the sandbox's verdict, ...
  // Perplexity (loglikelihood_rolling): the document's log-likelihood over its rolling windows
  // and its length in words and UTF-8 bytes, which the task's perplexities are weighted by.
  double loglikelihood = kNotScored;
  std::int64_t words = 0;
  std::int64_t bytes = 0;
};

// Rows as bytes for carrying between ranks, and back: every field, non-finite numbers and any
// bytes in texts included. unpack_results refuses (llmpi::Error) bytes pack_results did not make.
std::string pack_results(std::span<const RequestResult> rows);
std::vector<RequestResult> unpack_results(std::string_view bytes);

// Where one rank's telemetry came from, once per session (schema 3: /telemetry/sources).
struct TelemetrySource {
  std::int32_t rank = 0;
  std::int32_t session = 0;  // index into /run/sessions
  std::string gpu;           // "NVIDIA H200 (00000000:3B:00.0)"; empty without GPU readings
  std::string note;          // why there are no GPU readings; empty when there are
  double planned_bytes = 0;  // the planner's estimate of this rank's memory (GPU, or host)
  double interval_s = 0;     // sampling interval; 0: sampling off (rounds still record time)
};

// How many phases the time breakdown has (core/time_ledger.hpp: other, loading, prefill,
// decode, sampling, scoring, writing, waiting).
inline constexpr int kTelemetryPhases = 8;

// One reading of one rank (schema 3: /telemetry/samples). GPU values are NaN without readings.
struct TelemetrySample {
  std::int32_t rank = 0;
  std::int32_t session = 0;  // set by the writer
  double time_s = 0;         // since the session's start on this rank
  double gpu_memory_used_bytes = kNotScored;
  double gpu_memory_total_bytes = kNotScored;
  double gpu_utilization_pct = kNotScored;
  double gpu_memory_utilization_pct = kNotScored;
  double gpu_temperature_c = kNotScored;
  double gpu_power_w = kNotScored;
  double gpu_sm_clock_mhz = kNotScored;
  std::int64_t gpu_throttle_reasons = 0;
  double host_rss_bytes = 0;  // the rank's resident memory
  double host_cpu_s = 0;      // the rank's CPU time, user and system
  // Seconds spent so far in each phase, in the order above (cumulative over the session).
  std::vector<double> phase_s = std::vector<double>(kTelemetryPhases, 0.0);
};

std::string pack_samples(std::span<const TelemetrySample> samples);
std::vector<TelemetrySample> unpack_samples(std::string_view bytes);
std::string pack_sources(std::span<const TelemetrySource> sources);
std::vector<TelemetrySource> unpack_sources(std::string_view bytes);

// One task, or (in CategorySummary) one category, over its requests.
struct TaskSummary {
  std::string task;
  std::string category;
  std::int64_t requests = 0;
  std::int64_t scored = 0;         // requests with a score (not NaN)
  std::int64_t failed = 0;         // status failed (scored as wrong, or not, by the task's policy)
  std::int64_t skipped = 0;        // status skipped
  std::int64_t truncated = 0;      // status truncated
  double mean_score = kNotScored;  // over the scored requests
  // Standard error of mean_score: the scored requests' sample standard deviation over the root
  // of their number, as lm-evaluation-harness reports it (NaN below two requests).
  double score_stderr = kNotScored;
  double mean_latency_s = 0;
  double p50_latency_s = 0;
  double p95_latency_s = 0;
  double mean_ttft_s = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
  // The same over score_normalised: acc_norm for multiple choice, flexible-extract for the
  // harness's GSM8K; equal to the above for other tasks.
  double mean_score_normalised = kNotScored;
  double score_normalised_stderr = kNotScored;
  // Perplexity tasks, as lm-evaluation-harness aggregates them over the scored documents:
  // exp(-sum of log-likelihoods / sum of words), the same per byte, and -that sum / bytes /
  // ln 2. NaN for other tasks.
  double word_perplexity = kNotScored;
  double byte_perplexity = kNotScored;
  double bits_per_byte = kNotScored;
};

struct CategorySummary {
  std::string category;
  std::int64_t tasks = 0;
  std::int64_t requests = 0;
  std::int64_t scored = 0;
  std::int64_t failed = 0;
  std::int64_t skipped = 0;
  std::int64_t truncated = 0;
  double mean_score = kNotScored;        // over the scored requests of all its tasks
  double score_stderr = kNotScored;      // of mean_score, pooled over its tasks' requests
  double macro_mean_score = kNotScored;  // unweighted mean of its tasks' mean scores
  double mean_latency_s = 0;
  double mean_ttft_s = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
};

// Throughput and latency of the requests of one stretch of wall time.
struct RunStats {
  double wall_time_s = 0;
  std::int64_t requests = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
  double requests_per_s = 0;
  double prompt_tokens_per_s = 0;
  double generated_tokens_per_s = 0;
  double mean_latency_s = 0;
  double p50_latency_s = 0;
  double p95_latency_s = 0;
  double mean_ttft_s = 0;
};

// One writer session: the run's first, then one per --resume.
struct RunSession {
  std::string start_time;
  std::string end_time;        // empty when it was killed or is still running
  std::int64_t first_row = 0;  // rows in /requests when it began
  // How it ended: "finished", "interrupted by SIGTERM", "failed: <message>"; empty while it
  // runs, or when it was killed without a word.
  std::string ending;
};

}  // namespace llmpi
