#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llmpi/eval/dataset.hpp"
#include "llmpi/eval/task.hpp"
#include "llmpi/model/transformer.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

// One request of a task: a dataset record with its rendered prompt (few-shot examples first).
struct TaskRequest {
  std::string id;  // "<task>/<record id or line>": stable across runs, for resume
  std::size_t line = 0;
  nlohmann::json record;
  std::string prompt;
};

// What running one request produced. Scores: 1 or 0 (exact match, code passed, multiple choice
// correct by raw log-likelihood); `score_normalised` is the length-normalised multiple-choice
// score (equal to `score` otherwise).
struct RequestOutcome {
  std::string id, task, category;
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double latency_s = 0.0;
  double ttft_s = 0.0;
  double score = 0.0;
  double score_normalised = 0.0;
  std::string generated_text;
  std::vector<double> choice_loglik;
  std::vector<double> choice_loglik_normalised;
  int chosen = -1;
  std::string detail;  // the extracted answer, the sandbox's verdict, ...
};

// The requests of a task: its dataset's records (minus those used as few-shot examples),
// prompts rendered. `where` errors name the task file and the record's file:line.
std::vector<TaskRequest> prepare_requests(const TaskSpec& task, const Dataset& dataset);

// How many sequences an evaluator decodes at once: at most max_sequences, and only as many as
// the paged KV cache of kv_tokens tokens (the planner's tokens_fit for this replica) holds at
// their whole lengths. Zero: no limit.
struct BatchBudget {
  int max_sequences = 0;
  std::int64_t kv_tokens = 0;
};

// Runs requests of any task on one model replica. Every rank of the replica calls `run` with
// the same requests, in the same order; each returns the same outcomes.
class Evaluator {
 public:
  Evaluator(Transformer& model, const Tokenizer& tokenizer, BatchBudget budget = {});

  RequestOutcome run(const TaskSpec& task, const TaskRequest& request);
  // Several requests of one task: their completions (every sample of every request) are decoded
  // together, continuously batched within the budget: each is computed as it would be alone, up to
  // the summation order of batched products. ttft_s and latency_s count from the group's start:
  // waiting for a cache slot, and the batch's steps, are part of a request's time.
  std::vector<RequestOutcome> run(const TaskSpec& task,
                                  std::span<const TaskRequest* const> requests);

 private:
  double score_completion(const TaskSpec& task, const TaskRequest& request, const std::string& text,
                          std::string& detail);
  std::vector<RequestOutcome> generate_and_score(const TaskSpec& task,
                                                 std::span<const TaskRequest* const> requests);
  RequestOutcome choose(const TaskSpec& task, const TaskRequest& request);

  Transformer& model_;
  const Tokenizer& tokenizer_;
  BatchBudget budget_;
};

}  // namespace llmpi
