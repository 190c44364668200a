#pragma once

// What a run records, as plain values: the results file (docs/results.md) stores exactly these.
#include <cstdint>
#include <limits>
#include <map>
#include <string>
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

// One evaluated request.
struct RequestResult {
  std::string id;  // unique in the run: what --resume skips
  std::string task;
  std::string category;
  std::int32_t prompt_tokens = 0;
  std::int32_t generated_tokens = 0;
  double latency_s = 0;       // admission to last token
  double ttft_s = 0;          // admission to first generated token
  double score = kNotScored;  // NaN: not scored
  std::string generated_text;
  std::vector<std::int32_t> generated_token_ids;  // may be left empty
  // Multiple choice: the log-likelihood of each choice's continuation, and the same divided by
  // its length; both empty otherwise.
  std::vector<double> choice_loglik;
  std::vector<double> choice_loglik_normalised;
  std::int32_t chosen = -1;  // index into the choices; -1 when not multiple choice
};

// One task, or (in CategorySummary) one category, over its requests.
struct TaskSummary {
  std::string task;
  std::string category;
  std::int64_t requests = 0;
  std::int64_t scored = 0;         // requests with a score (not NaN)
  double mean_score = kNotScored;  // over the scored requests
  double mean_latency_s = 0;
  double p50_latency_s = 0;
  double p95_latency_s = 0;
  double mean_ttft_s = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
};

struct CategorySummary {
  std::string category;
  std::int64_t tasks = 0;
  std::int64_t requests = 0;
  std::int64_t scored = 0;
  double mean_score = kNotScored;        // over the scored requests of all its tasks
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
};

}  // namespace llmpi
