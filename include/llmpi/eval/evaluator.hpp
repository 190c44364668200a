#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "llmpi/engine/generator.hpp"
#include "llmpi/eval/dataset.hpp"
#include "llmpi/eval/task.hpp"
#include "llmpi/model/transformer.hpp"
#include "llmpi/results/records.hpp"
#include "llmpi/tokenizer/chat_template.hpp"
#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

// One request of a task: a dataset record with its rendered prompt (few-shot examples first).
struct TaskRequest {
  std::string id;  // "<task>/<record id or line>": stable across runs, for resume
  std::size_t line = 0;
  nlohmann::json record;
  std::string prompt;
};

// The requests of a task: its dataset's records (minus those used as few-shot examples),
// prompts rendered, through `chat` (the checkpoint's template) when the task says chat: true.
// `where` errors name the task file and the record's file:line.
std::vector<TaskRequest> prepare_requests(const TaskSpec& task, const Dataset& dataset,
                                          const ChatTemplate* chat = nullptr);

// How an evaluator runs requests. Sequences decoded at once: at most max_sequences, and only
// as many as the paged KV cache of kv_tokens tokens (the planner's tokens_fit for this replica)
// holds at their whole lengths; zero: no limit. context_tokens: the longest sequence (prompt
// and new tokens) a request may have, the preset's context_length (0: the model's positions);
// longer prompts go by their task's long_prompt policy.
struct EvaluatorLimits {
  int max_sequences = 0;
  std::int64_t kv_tokens = 0;
  int context_tokens = 0;
  // Whether this rank's rows are the ones kept (the replica's first rank): only it runs
  // model-written code in the sandbox; the other ranks' code rows are left unscored.
  bool keeps_results = true;
  // Prompts start from the KV blocks of leading tokens an earlier request (or choice)
  // computed: the few-shot examples, the question before each answer. Results are the same.
  bool prefix_reuse = true;
};

// The prompt tokens an evaluator ran through the model, and how many of them a shared prefix
// spared (their keys and values were already in the cache).
struct PrefillCounts {
  std::int64_t prompt_tokens = 0;
  std::int64_t reused_tokens = 0;
};

// Runs requests of any task on one model replica. Every rank of the replica calls `run` with
// the same requests, in the same order. A request that cannot be run or scored becomes a row
// with status failed (or skipped) and its error; the others go on. A stop request
// (core/stop_request.hpp) seen by any rank of the replica abandons the call on all of them with
// Interrupted.
class Evaluator {
 public:
  Evaluator(Transformer& model, const Tokenizer& tokenizer, EvaluatorLimits limits = {});

  RequestResult run(const TaskSpec& task, const TaskRequest& request);
  // Several requests of one task: their completions (every sample of every request) are decoded
  // together, continuously batched within the limits: each is computed as it would be alone, up
  // to the summation order of batched products. ttft_s and latency_s count from the group's
  // start: waiting for a cache slot, and the batch's steps, are part of a request's time.
  std::vector<RequestResult> run(const TaskSpec& task,
                                 std::span<const TaskRequest* const> requests);

  const PrefillCounts& prefill_counts() const { return prefill_; }

 private:
  struct Completion;
  int context_tokens() const;
  bool may_truncate(const TaskSpec& task, RequestResult& result, const std::string& why) const;
  std::optional<std::vector<std::int32_t>> fit_prompt(const TaskSpec& task,
                                                      std::vector<std::int32_t> prompt,
                                                      int new_tokens, RequestResult& result) const;
  std::vector<Completion> complete(const TaskSpec& task,
                                   std::span<const TaskRequest* const> requests,
                                   std::span<const std::vector<std::int32_t>> prompts,
                                   std::span<const int> max_new_tokens);
  // `score` and `second` (score_normalised): the scorer's two measures, equal for most.
  void score_completion(const TaskSpec& task, const TaskRequest& request, const std::string& text,
                        double& score, double& second, std::string& detail, std::string& error);
  std::vector<RequestResult> generate_and_score(const TaskSpec& task,
                                                std::span<const TaskRequest* const> requests);
  RequestResult choose(const TaskSpec& task, const TaskRequest& request);
  // A document's log-likelihood over the harness's rolling windows (perplexity tasks).
  RequestResult roll(const TaskSpec& task, const TaskRequest& request);
  // A variant's log-likelihood against its reference's (the difference is the score).
  RequestResult compare_variant(const TaskSpec& task, const TaskRequest& request);
  // A row of `request` filled by `score`, timed; an error (not a stop request) makes it failed,
  // with no log-likelihood.
  RequestResult score_text(const TaskSpec& task, const TaskRequest& request,
                           const std::function<void(RequestResult&)>& score);
  struct DocumentScore {
    double loglikelihood = 0;
    std::int64_t tokens = 0;  // the document's tokens
    std::int64_t scored = 0;  // of them, those scored
    std::size_t windows = 0;
    std::int64_t window = 0;  // tokens a window runs at most
  };
  DocumentScore score_document(const TaskSpec& task, const std::string& document,
                               const std::string& what);
  std::int32_t prefix_token() const;
  // The tokens of a prompt: the tokenizer's special tokens added unless it starts with BOS.
  std::vector<std::int32_t> encode(const std::string& text) const;
  // The cache kept across calls for prefix reuse, grown to hold `shape` (its shared prefixes
  // are lost when it grows); null without prefix reuse.
  KvCache* shared_cache(const BatchCacheShape& shape);

  Transformer& model_;
  const Tokenizer& tokenizer_;
  EvaluatorLimits limits_;
  std::optional<KvCache> shared_cache_;
  PrefillCounts prefill_;
};

// Marks `result` as not run or not scorable: its status and error, and its score as the task's
// failed_requests policy says (skipped rows are never scored).
void set_failure(RequestResult& result, const TaskSpec& task, RequestStatus status,
                 const std::string& error);

}  // namespace llmpi
