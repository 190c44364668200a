#include "llmpi/eval/evaluator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>

#include "llmpi/core/error.hpp"
#include "llmpi/core/stop_request.hpp"
#include "llmpi/core/time_ledger.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/eval/answer_extraction.hpp"
#include "llmpi/eval/code_scorer.hpp"
#include "llmpi/eval/multiple_choice.hpp"
#include "llmpi/eval/perplexity.hpp"
#include "llmpi/eval/prompt_template.hpp"

namespace llmpi {

namespace {

std::string record_where(const TaskSpec& task, const TaskRequest& request) {
  return task.dataset.string() + ":" + std::to_string(request.line);
}

// The record's own id when it has one (HumanEval's task_id, an "id" field), else its line.
std::string request_id(const TaskSpec& task, const DatasetRecord& record) {
  for (const char* key : {"id", "task_id"}) {
    if (record.fields.contains(key)) {
      const auto& value = record.fields.at(key);
      return task.name + "/" + (value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  return task.name + "/line-" + std::to_string(record.line);
}

// Where the first stop string begins in `text`, or npos.
std::size_t first_stop(const std::string& text, const std::vector<std::string>& stops) {
  std::size_t at = std::string::npos;
  for (const std::string& stop : stops) at = std::min(at, text.find(stop));
  return at;
}

RequestResult result_for(const TaskSpec& task, const TaskRequest& request) {
  RequestResult result;
  result.id = request.id;
  result.task = task.name;
  result.category = task.category;
  return result;
}

int label_index(const nlohmann::json& label, std::size_t choices, const std::string& where) {
  if (label.is_number_integer()) {
    const int index = label.get<int>();
    if (index >= 0 && static_cast<std::size_t>(index) < choices) return index;
  } else if (label.is_string() && label.get<std::string>().size() == 1) {
    const int index = label.get<std::string>()[0] - 'A';
    if (index >= 0 && static_cast<std::size_t>(index) < choices) return index;
  }
  throw Error(where + ": label " + label.dump() + " is not a choice index 0.." +
              std::to_string(choices - 1) + " or a letter A..");
}

// Whether `completion` answers `reference` under `extraction`, by its first and second measure
// (the harness's two GSM8K filters; the same otherwise). `detail` says what was compared, and
// stays empty when the reference has no answer to compare with.
std::pair<bool, bool> exact_match_scores(AnswerExtraction extraction, const std::string& completion,
                                         const std::string& reference_text, std::string& detail) {
  switch (extraction) {
    case AnswerExtraction::gsm8k: {
      const auto reference = gsm8k_reference(reference_text);
      if (!reference) return {false, false};
      const auto predicted = extract_numeric_answer(completion);
      detail = "predicted " + predicted.value_or("(none)") + ", reference " + *reference;
      const bool right = predicted && answers_match(*predicted, *reference);
      return {right, right};
    }
    case AnswerExtraction::none: {
      detail = "predicted " + completion + ", reference " + reference_text;
      const bool right = answers_match(completion, reference_text);
      return {right, right};
    }
    case AnswerExtraction::harness: {
      const std::string strict = harness_gsm8k_answer(completion, HarnessGsm8kFilter::strict_match);
      const std::string flexible =
          harness_gsm8k_answer(completion, HarnessGsm8kFilter::flexible_extract);
      const std::string reference = harness_gsm8k_normalised(reference_text);
      detail =
          "strict-match " + strict + ", flexible-extract " + flexible + ", reference " + reference;
      return {harness_gsm8k_normalised(strict) == reference,
              harness_gsm8k_normalised(flexible) == reference};
    }
  }
  return {false, false};
}

}  // namespace

std::vector<TaskRequest> prepare_requests(const TaskSpec& task, const Dataset& dataset,
                                          const ChatTemplate* chat) {
  if (task.chat && chat == nullptr) {
    throw Error(task.source + ": chat: true needs the checkpoint's chat template");
  }
  const PromptTemplate prompt(task.prompt, task.source + ": prompt");
  const PromptTemplate example(task.few_shot.template_text, task.source + ": few_shot.template");
  const PromptTemplate target(task.few_shot.target, task.source + ": few_shot.target");
  // The examples: each one's prompt and answer (as chat turns), or its whole text.
  std::vector<ChatMessage> turns;
  if (!task.system.empty()) turns.push_back({"system", task.system});
  std::string prefix;
  std::size_t first = 0;
  if (task.few_shot.count > 0) {
    const Dataset shots =
        task.few_shot.dataset.empty()
            ? dataset
            : read_jsonl(task.few_shot.dataset,
                         {{}, false, static_cast<std::size_t>(task.few_shot.count)});
    const auto count =
        std::min<std::size_t>(static_cast<std::size_t>(task.few_shot.count), shots.records.size());
    for (std::size_t i = 0; i < count; ++i) {
      const nlohmann::json& fields = shots.records[i].fields;
      const std::string where = shots.source + ":" + std::to_string(shots.records[i].line);
      if (task.few_shot.template_text.empty()) {
        const std::string question = prompt.render(fields, where);
        const std::string answer = target.render(fields, where);
        turns.push_back({"user", question});
        turns.push_back({"assistant", answer});
        prefix += question + task.target_delimiter + answer + task.few_shot.separator;
      } else {
        prefix += example.render(fields, where) + task.few_shot.separator;
      }
    }
    if (task.few_shot.dataset.empty()) first = count;  // examples are not evaluated
  }
  std::vector<TaskRequest> requests;
  for (std::size_t i = first; i < dataset.records.size(); ++i) {
    const DatasetRecord& record = dataset.records[i];
    const std::string where = dataset.source + ":" + std::to_string(record.line);
    std::string text = prompt.render(record.fields, where);
    if (task.chat) {
      std::vector<ChatMessage> messages = turns;
      messages.push_back({"user", std::move(text)});
      text = chat->render(messages, true);
    } else {
      text = prefix + text;
    }
    requests.push_back({request_id(task, record), record.line, record.fields, std::move(text)});
  }
  return requests;
}

void set_failure(RequestResult& result, const TaskSpec& task, RequestStatus status,
                 const std::string& error) {
  result.status = status;
  result.error = error;
  const bool wrong =
      status == RequestStatus::failed && task.failed_requests == FailurePolicy::count_as_wrong;
  result.score = wrong ? 0.0 : kNotScored;
  result.score_normalised = result.score;
}

Evaluator::Evaluator(Transformer& model, const Tokenizer& tokenizer, EvaluatorLimits limits)
    : model_(model), tokenizer_(tokenizer), limits_(limits) {}

std::vector<std::int32_t> Evaluator::encode(const std::string& text) const {
  // A text that already starts with the beginning-of-text token (a chat template writes it)
  // does not get a second one, as lm-evaluation-harness encodes it.
  const auto& bos = model_.config().bos_token_id;
  const bool has_bos = bos && text.starts_with(tokenizer_.id_to_token(*bos));
  return tokenizer_.encode(text, !has_bos);
}

std::int32_t Evaluator::prefix_token() const {
  // What lm-evaluation-harness conditions an empty context on: the beginning-of-text token,
  // else the end-of-text token.
  const ModelConfig& config = model_.config();
  if (config.bos_token_id) return *config.bos_token_id;
  if (config.eos_token_ids.empty()) {
    throw Error("an empty context needs a token to condition on, and " + config.source +
                " names no bos_token_id or eos_token_id");
  }
  return config.eos_token_ids.front();
}

KvCache* Evaluator::shared_cache(const BatchCacheShape& shape) {
  if (!limits_.prefix_reuse) return nullptr;
  const std::int64_t pool =
      shape.pool_tokens > 0 ? shape.pool_tokens : shape.capacity * shape.sequences;
  if (shared_cache_ && shared_cache_->capacity() >= shape.capacity &&
      shared_cache_->sequences() >= shape.sequences &&
      shared_cache_->total_blocks() * shared_cache_->block_tokens() >= pool &&
      shared_cache_->block_tokens() == shape.block_tokens) {
    return &*shared_cache_;
  }
  // Sequences as long as the context, so that later groups rarely need a new cache (which
  // would lose the shared prefixes).
  std::int64_t capacity = std::max<std::int64_t>(shape.capacity, context_tokens());
  int sequences = shape.sequences;
  std::int64_t pool_tokens = pool;
  if (shared_cache_) {
    capacity = std::max(capacity, shared_cache_->capacity());
    sequences = std::max(sequences, shared_cache_->sequences());
    pool_tokens =
        std::max(pool_tokens, shared_cache_->total_blocks() * shared_cache_->block_tokens());
  }
  shared_cache_.reset();  // its memory goes before the larger cache's is taken
  shared_cache_.emplace(model_.backend(), model_.config(), model_.shard(), capacity, sequences,
                        pool_tokens, shape.block_tokens, KvCache::PrefixSharing::on);
  return &*shared_cache_;
}

int Evaluator::context_tokens() const {
  const int positions = model_.config().max_position_embeddings;
  return limits_.context_tokens > 0 ? std::min(limits_.context_tokens, positions) : positions;
}

RequestResult Evaluator::run(const TaskSpec& task, const TaskRequest& request) {
  const TaskRequest* one = &request;
  return run(task, std::span(&one, 1)).front();
}

std::vector<RequestResult> Evaluator::run(const TaskSpec& task,
                                          std::span<const TaskRequest* const> requests) {
  if (task.generation.samples > 1 && task.generation.temperature <= 0.0) {
    throw Error(task.source +
                ": generation.samples > 1 needs temperature > 0 (greedy samples "
                "would all be the same)");
  }
  const bool scores_text = task.scorer.kind == ScorerKind::multiple_choice ||
                           task.scorer.kind == ScorerKind::loglikelihood_rolling ||
                           task.scorer.kind == ScorerKind::variant_effect;
  if (!scores_text) return generate_and_score(task, requests);
  std::vector<RequestResult> results;
  for (const TaskRequest* request : requests) {
    if (const int signal = stop_signal(); model_.any_rank_of_replica(signal != 0)) {
      throw Interrupted(signal);
    }
    switch (task.scorer.kind) {
      case ScorerKind::multiple_choice:
        results.push_back(choose(task, *request));
        break;
      case ScorerKind::variant_effect:
        results.push_back(compare_variant(task, *request));
        break;
      default:
        results.push_back(roll(task, *request));
        break;
    }
  }
  return results;
}

namespace {
// FNV-1a of the request id: a per-request seed stable across runs, ranks and platforms.
std::uint64_t id_hash(const std::string& id) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : id) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}
}  // namespace

bool Evaluator::may_truncate(const TaskSpec& task, RequestResult& result,
                             const std::string& why) const {
  switch (task.long_prompt) {
    case LongPromptPolicy::fail:
      set_failure(result, task, RequestStatus::failed, why + " (long_prompt: fail)");
      return false;
    case LongPromptPolicy::skip:
      set_failure(result, task, RequestStatus::skipped, why + " (long_prompt: skip)");
      return false;
    case LongPromptPolicy::truncate_left:
      break;
  }
  return true;
}

std::optional<std::vector<std::int32_t>> Evaluator::fit_prompt(const TaskSpec& task,
                                                               std::vector<std::int32_t> prompt,
                                                               int new_tokens,
                                                               RequestResult& result) const {
  const int context = context_tokens();
  const auto length = static_cast<int>(prompt.size());
  if (length + 1 <= context) return prompt;
  if (!may_truncate(task, result,
                    "the prompt has " + std::to_string(length) + " tokens and the context " +
                        std::to_string(context) +
                        " (the preset's context_length, or --context-length) leaves no room "
                        "for a new token")) {
    return std::nullopt;
  }
  // Room for the new tokens where the context allows, and at least one prompt token.
  const int keep = std::max(1, context - std::min(new_tokens, context - 1));
  prompt.erase(prompt.begin(), prompt.end() - keep);
  result.status = RequestStatus::truncated;
  result.error = "prompt cut from " + std::to_string(length) + " to its last " +
                 std::to_string(keep) + " tokens to fit the context of " + std::to_string(context) +
                 " (long_prompt: truncate-left)";
  return prompt;
}

void Evaluator::score_completion(const TaskSpec& task, const TaskRequest& request,
                                 const std::string& text, double& score, double& second,
                                 std::string& detail, std::string& error) {
  const PhaseScope scoring(Phase::scoring);
  score = 0.0;
  second = 0.0;
  try {
    if (task.scorer.kind == ScorerKind::exact_match) {
      const auto& answer = request.record.at(task.scorer.answer_field);
      const std::string reference_text =
          answer.is_string() ? answer.get<std::string>() : answer.dump();
      const auto [first, other] =
          exact_match_scores(task.scorer.extraction, text, reference_text, detail);
      score = first ? 1.0 : 0.0;
      second = other ? 1.0 : 0.0;
      if (!detail.empty()) return;
      error = "scorer: " + record_where(task, request) + ": answer field '" +
              task.scorer.answer_field + "' has no \"#### <number>\" reference";
      return;
    }
    if (!limits_.keeps_results) {
      score = kNotScored;  // this rank's rows are not kept: the replica's first rank runs the code
      second = kNotScored;
      return;
    }
    const SandboxResult run = run_code_tests(request.record, request.prompt, text, task.scorer);
    detail = status_name(run.status) + (run.detail.empty() ? "" : ": " + run.detail);
    if (run.status == SandboxResult::Status::interrupted) throw Interrupted(stop_signal());
    if (run.status == SandboxResult::Status::sandbox_error) error = "sandbox: " + run.detail;
    score = run.status == SandboxResult::Status::passed ? 1.0 : 0.0;
    second = score;
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    error = std::string("scorer: ") + e.what();
  }
}

// One completion's text, decoded as it streams so stop strings end generation on every rank
// alike, and what generating it measured.
struct Evaluator::Completion {
  explicit Completion(const Tokenizer& tokenizer) : decoder(tokenizer) {}
  IncrementalDecoder decoder;
  std::string text;
  GenerationResult generation;
  std::string error;  // generating it failed
};

std::vector<Evaluator::Completion> Evaluator::complete(
    const TaskSpec& task, std::span<const TaskRequest* const> requests,
    std::span<const std::vector<std::int32_t>> prompts, std::span<const int> max_new_tokens) {
  const auto& stops = task.generation.stop;
  const int samples = task.generation.samples;
  std::deque<Completion> texts;  // stable addresses for the callbacks
  std::vector<GenerationRequest> generations;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    for (int sample = 0; sample < samples; ++sample) {
      Completion& completion = texts.emplace_back(tokenizer_);
      GenerationOptions options;
      options.max_new_tokens = max_new_tokens[r];
      options.stop_at_eos = true;
      options.temperature = task.generation.temperature;
      options.top_p = task.generation.top_p;
      options.seed = task.generation.seed ^ id_hash(requests[r]->id) ^
                     (0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(sample + 1));
      options.on_token = [&completion, &stops](std::int32_t token) {
        completion.text += completion.decoder.push(token);
        return first_stop(completion.text, stops) != std::string::npos;
      };
      generations.push_back({prompts[r], std::move(options)});
    }
  }
  // The paged cache holds limits_.kv_tokens tokens; a request joins the batch when its whole
  // length fits in what the running ones leave (one that alone exceeds the budget still runs:
  // the session checked that one full context fits).
  const BatchSettings settings{.max_active = limits_.max_sequences, .kv_tokens = limits_.kv_tokens};
  KvCache* shared = shared_cache(batch_cache_shape(model_.config(), generations, settings));
  std::vector<GenerationResult> results = generate_batch(model_, generations, settings, shared);
  for (std::size_t i = 0; i < results.size(); ++i) {
    prefill_.prompt_tokens += std::ssize(generations[i].prompt);
    prefill_.reused_tokens += results[i].reused_prompt_tokens;
  }
  std::vector<Completion> done;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    Completion& completion = texts[i];
    completion.text += completion.decoder.flush();
    if (const std::size_t cut = first_stop(completion.text, stops); cut != std::string::npos) {
      completion.text.resize(cut);
    }
    completion.generation = std::move(results[i]);
    done.push_back(std::move(completion));
  }
  return done;
}

std::vector<RequestResult> Evaluator::generate_and_score(
    const TaskSpec& task, std::span<const TaskRequest* const> requests) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const int context = context_tokens();
  // One completion (greedy), or `samples` sampled ones per request: the score is then the
  // pass@1 estimate c / n, and the detail reports pass@n.
  const int samples = task.generation.samples;
  std::vector<RequestResult> results;
  std::vector<std::size_t> runnable;  // indices of the requests that run
  std::vector<const TaskRequest*> to_run;
  std::vector<std::vector<std::int32_t>> prompts;
  std::vector<int> max_new_tokens;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    RequestResult& result = results.emplace_back(result_for(task, *requests[r]));
    std::vector<std::int32_t> tokens;
    try {
      tokens = encode(requests[r]->prompt);
    } catch (const std::exception& e) {
      set_failure(result, task, RequestStatus::failed, std::string("tokenizer: ") + e.what());
      continue;
    }
    result.prompt_tokens = static_cast<int>(tokens.size());
    auto fitted = fit_prompt(task, std::move(tokens), task.generation.max_new_tokens, result);
    if (!fitted) continue;
    runnable.push_back(r);
    to_run.push_back(requests[r]);
    max_new_tokens.push_back(
        std::min(task.generation.max_new_tokens, context - static_cast<int>(fitted->size())));
    prompts.push_back(std::move(*fitted));
  }

  const double generation_start = seconds();  // after tokenizing the group's prompts
  std::vector<Completion> completions;
  if (!to_run.empty()) {
    try {
      completions = complete(task, to_run, prompts, max_new_tokens);
    } catch (const Interrupted&) {
      throw;
    } catch (const Error& e) {
      // Which request it was: each alone, so the others still get their completions.
      if (to_run.size() == 1) {
        for (int sample = 0; sample < samples; ++sample) {
          completions.emplace_back(tokenizer_).error = e.what();
        }
      } else {
        for (std::size_t i = 0; i < to_run.size(); ++i) {
          try {
            auto alone = complete(task, std::span(&to_run[i], 1), std::span(&prompts[i], 1),
                                  std::span(&max_new_tokens[i], 1));
            for (Completion& c : alone) completions.push_back(std::move(c));
          } catch (const Interrupted&) {
            throw;
          } catch (const Error& alone_error) {
            for (int sample = 0; sample < samples; ++sample) {
              completions.emplace_back(tokenizer_).error = alone_error.what();
            }
          }
        }
      }
    }
  }

  // Times per request: from the group's start to its first token (waiting for a cache slot
  // included), and to its last sample's end plus its own scoring.
  for (std::size_t i = 0; i < runnable.size(); ++i) {
    RequestResult& out = results[runnable[i]];
    const auto scoring_start = std::chrono::steady_clock::now();
    double generated = 0.0;
    int correct = 0;
    int correct_second = 0;  // by the scorer's second measure
    bool unscored = false;   // on a rank whose rows are not kept
    std::string error;
    for (int sample = 0; sample < samples && error.empty(); ++sample) {
      Completion& completion =
          completions[i * static_cast<std::size_t>(samples) + static_cast<std::size_t>(sample)];
      if (!completion.error.empty()) {
        error = "generation: " + completion.error;
        break;
      }
      double score = 0.0;
      double second = 0.0;
      std::string detail;
      score_completion(task, *to_run[i], completion.text, score, second, detail, error);
      correct += score > 0.0 ? 1 : 0;
      correct_second += second > 0.0 ? 1 : 0;
      unscored = unscored || std::isnan(score);
      const GenerationResult& g = completion.generation;
      generated = std::max(generated, generation_start + g.first_token_seconds + g.decode_seconds);
      if (sample == 0) {
        out.generated_text = completion.text;
        out.generated_token_ids = g.tokens;
        out.generated_tokens = static_cast<int>(g.tokens.size());
        out.ttft_s = generation_start + g.first_token_seconds;
        out.detail = detail;
      }
    }
    out.latency_s =
        generated +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - scoring_start).count();
    if (!error.empty()) {
      const std::string truncation = out.status == RequestStatus::truncated ? out.error : "";
      set_failure(out, task, RequestStatus::failed,
                  error + (truncation.empty() ? "" : "; " + truncation));
      continue;
    }
    out.score = unscored ? kNotScored : static_cast<double>(correct) / samples;
    if (samples > 1 && !unscored) {
      out.detail += "; " + std::to_string(correct) + " of " + std::to_string(samples) +
                    " samples correct, pass@" + std::to_string(samples) + " " +
                    std::to_string(pass_at_k(samples, correct, samples));
    }
    out.score_normalised = unscored ? kNotScored : static_cast<double>(correct_second) / samples;
  }
  return results;
}

RequestResult Evaluator::choose(const TaskSpec& task, const TaskRequest& request) {
  RequestResult out = result_for(task, request);
  const auto start = std::chrono::steady_clock::now();
  const std::string where = record_where(task, request);
  try {
    const auto& choices = request.record.at(task.scorer.choices_field);
    if (!choices.is_array() || choices.empty()) {
      throw Error(where + ": field '" + task.scorer.choices_field + "' must be a non-empty list");
    }
    const int label =
        label_index(request.record.at(task.scorer.label_field), choices.size(), where);
    const PromptTemplate continuation(task.scorer.continuation,
                                      task.source + ": scorer.continuation");
    // As lm-evaluation-harness splits a pair: the context's trailing whitespace moves to the
    // continuation; the context is encoded alone, the continuation is what encoding the whole
    // text adds after as many tokens (so a merge across the boundary counts as continuation).
    std::string context_text = request.prompt;
    const std::size_t kept = context_text.find_last_not_of(" \t\n\r\f\v");
    const std::string moved = context_text.substr(kept == std::string::npos ? 0 : kept + 1);
    context_text.resize(context_text.size() - moved.size());
    const std::vector<std::int32_t> context =
        context_text.empty() ? std::vector<std::int32_t>{prefix_token()} : encode(context_text);
    out.prompt_tokens = static_cast<int>(context.size());
    std::vector<std::string> texts;         // each choice's continuation
    std::vector<std::string> choice_texts;  // the choices alone, for acc_norm
    std::vector<std::vector<std::int32_t>> wholes;
    std::vector<std::size_t> splits;
    std::size_t longest = 0;
    for (const auto& choice : choices) {
      nlohmann::json fields = request.record;
      choice_texts.push_back(choice.is_string() ? choice.get<std::string>() : choice.dump());
      fields["choice"] = choice_texts.back();
      texts.push_back(continuation.render(fields, where));
      const std::vector<std::int32_t> encoded = context_text.empty()
                                                    ? encode(moved + texts.back())
                                                    : encode(context_text + moved + texts.back());
      const std::size_t skip = context_text.empty() ? 0 : context.size();
      if (encoded.size() <= skip) {
        throw Error(where + ": choice " + nlohmann::json(texts.back()).dump() +
                    " adds no tokens after the prompt");
      }
      std::vector<std::int32_t> whole = context;
      whole.insert(whole.end(), encoded.begin() + static_cast<std::ptrdiff_t>(skip), encoded.end());
      longest = std::max(longest, whole.size());
      splits.push_back(context.size());
      wholes.push_back(std::move(whole));
    }
    // The longest choice must fit the context; under truncate-left every choice's context
    // loses the same leading tokens.
    const auto context_limit = static_cast<std::size_t>(context_tokens());
    std::size_t cut = 0;
    if (longest > context_limit) {
      if (!may_truncate(task, out,
                        "the prompt with its longest choice has " + std::to_string(longest) +
                            " tokens, more than the context of " + std::to_string(context_limit) +
                            " (the preset's context_length, or --context-length)")) {
        out.latency_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return out;
      }
      cut = longest - context_limit;
      if (*std::min_element(splits.begin(), splits.end()) <= cut) {
        throw Error(where + ": a choice's continuation alone is longer than the context of " +
                    std::to_string(context_limit) + " tokens");
      }
      out.status = RequestStatus::truncated;
      out.error = "every choice's context cut by its first " + std::to_string(cut) +
                  " tokens to fit the context of " + std::to_string(context_limit) +
                  " (long_prompt: truncate-left)";
    }
    std::vector<double> loglik;
    // A question is often shorter than one 64-token block: in blocks of 4 tokens its choices
    // share all of it but the last few tokens (nothing is decoded here, so the decode kernel's
    // tile does not matter). everyday-science: 59% fewer tokens computed, where 64 shared none.
    constexpr int kChoiceBlockTokens = 4;
    KvCache* shared = shared_cache({.capacity = static_cast<std::int64_t>(longest - cut),
                                    .sequences = 1,
                                    .pool_tokens = 0,
                                    .block_tokens = kChoiceBlockTokens});
    for (std::size_t c = 0; c < wholes.size(); ++c) {
      const auto whole = std::span(wholes[c]).subspan(cut);
      const std::size_t common = splits[c] - cut;
      const PhaseScope prefill(Phase::prefill);
      const std::int64_t reused_before = shared != nullptr ? shared->reused_tokens() : 0;
      loglik.push_back(
          model_.continuation_log_likelihood(whole.first(common), whole.subspan(common), shared));
      prefill_.prompt_tokens += model_.log_likelihood_tokens(std::ssize(whole));
      prefill_.reused_tokens += shared != nullptr ? shared->reused_tokens() - reused_before : 0;
    }
    for (std::size_t c = 0; c < loglik.size(); ++c) {
      if (!std::isfinite(loglik[c])) {
        throw Error("non-finite log-likelihood " + std::to_string(loglik[c]) + " for choice " +
                    std::to_string(c) + " (" + nlohmann::json(texts[c]).dump() + ")");
      }
    }
    const ChoiceScores scores = score_choices(loglik, choice_texts);
    out.choice_loglik = scores.loglik;
    out.choice_loglik_normalised = scores.loglik_normalised;
    out.chosen = scores.chosen;
    out.score = scores.chosen == label ? 1.0 : 0.0;
    out.score_normalised = scores.chosen_normalised == label ? 1.0 : 0.0;
    out.generated_text = texts[static_cast<std::size_t>(scores.chosen)];
    out.detail = "chose " + std::to_string(scores.chosen) + " (normalised " +
                 std::to_string(scores.chosen_normalised) + "), label " + std::to_string(label);
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    out.choice_loglik.clear();
    out.choice_loglik_normalised.clear();
    out.chosen = -1;
    set_failure(out, task, RequestStatus::failed, e.what());
  }
  out.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

Evaluator::DocumentScore Evaluator::score_document(const TaskSpec& task,
                                                   const std::string& document,
                                                   const std::string& what) {
  if (document.empty()) throw Error(what + " is empty");
  std::vector<std::int32_t> tokens = encode(document);
  DocumentScore result;
  result.tokens = std::ssize(tokens);
  // After the beginning- (or end-) of-text token, or after the document's own first token.
  std::int32_t prefix = 0;
  if (task.scorer.prepend_bos) {
    prefix = prefix_token();
  } else {
    if (tokens.size() < 2) {
      throw Error(what + " has " + std::to_string(tokens.size()) +
                  " token: with prepend_bos false the first token is not scored, so it needs two");
    }
    prefix = tokens.front();
    tokens.erase(tokens.begin());
  }
  result.scored = std::ssize(tokens);
  // A window runs `window` tokens through the model (the harness's max_length).
  result.window = task.scorer.window_tokens > 0
                      ? std::min<std::int64_t>(task.scorer.window_tokens, context_tokens())
                      : context_tokens();
  // A window scores up to window + 1 tokens of text.
  KvCache* shared = shared_cache({.capacity = model_.log_likelihood_tokens(result.window + 1),
                                  .sequences = 1,
                                  .pool_tokens = 0,
                                  .block_tokens = KvCache::kDefaultBlockTokens});
  const std::vector<TokenWindow> windows = rolling_windows(tokens, prefix, result.window);
  result.windows = windows.size();
  for (const TokenWindow& w : windows) {
    const PhaseScope prefill(Phase::prefill);
    const std::int64_t reused_before = shared != nullptr ? shared->reused_tokens() : 0;
    result.loglikelihood += model_.continuation_log_likelihood(w.context, w.continuation, shared);
    prefill_.prompt_tokens +=
        model_.log_likelihood_tokens(std::ssize(w.context) + std::ssize(w.continuation));
    prefill_.reused_tokens += shared != nullptr ? shared->reused_tokens() - reused_before : 0;
  }
  if (!std::isfinite(result.loglikelihood)) {
    throw Error("non-finite log-likelihood " + std::to_string(result.loglikelihood) + " for " +
                what);
  }
  return result;
}

RequestResult Evaluator::score_text(const TaskSpec& task, const TaskRequest& request,
                                    const std::function<void(RequestResult&)>& score) {
  RequestResult out = result_for(task, request);
  const auto start = std::chrono::steady_clock::now();
  try {
    score(out);
  } catch (const Interrupted&) {
    throw;
  } catch (const std::exception& e) {
    out.loglikelihood = kNotScored;
    set_failure(out, task, RequestStatus::failed, e.what());
  }
  out.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

RequestResult Evaluator::roll(const TaskSpec& task, const TaskRequest& request) {
  return score_text(task, request, [&](RequestResult& out) {
    const std::string& document = request.prompt;
    const DocumentScore scored =
        score_document(task, document, record_where(task, request) + ": the document");
    out.prompt_tokens = static_cast<int>(scored.tokens);
    out.loglikelihood = scored.loglikelihood;
    out.words = count_words(document);
    out.bytes = static_cast<std::int64_t>(document.size());
    // A document's own score: its bits per byte (the task's perplexities weigh every byte).
    out.score = -scored.loglikelihood / static_cast<double>(out.bytes) / std::log(2.0);
    out.score_normalised = out.score;
    out.detail = std::to_string(scored.windows) + " windows of at most " +
                 std::to_string(scored.window) + " tokens, " + std::to_string(scored.scored) +
                 " tokens scored, " + std::to_string(out.words) + " words, " +
                 std::to_string(out.bytes) + " bytes";
  });
}

RequestResult Evaluator::compare_variant(const TaskSpec& task, const TaskRequest& request) {
  return score_text(task, request, [&](RequestResult& out) {
    const std::string where = record_where(task, request);
    const auto field = request.record.find(task.scorer.reference_field);
    if (field == request.record.end() || !field->is_string()) {
      throw Error(where + ": field '" + task.scorer.reference_field +
                  "' (the reference sequence) must be a string");
    }
    const std::string& variant = request.prompt;
    const DocumentScore reference =
        score_document(task, field->get<std::string>(), where + ": the reference");
    const DocumentScore scored = score_document(task, variant, where + ": the variant");
    out.prompt_tokens = static_cast<int>(scored.tokens + reference.tokens);
    // The variant's own numbers feed the task's perplexities; the score is the difference.
    out.loglikelihood = scored.loglikelihood;
    out.words = count_words(variant);
    out.bytes = static_cast<std::int64_t>(variant.size());
    out.score = scored.loglikelihood - reference.loglikelihood;
    // evo2's delta of mean log-likelihoods (score_sequences' default reduction).
    out.score_normalised = scored.loglikelihood / static_cast<double>(scored.scored) -
                           reference.loglikelihood / static_cast<double>(reference.scored);
    char text[160];
    std::snprintf(text, sizeof text, "variant %.6f over %lld tokens, reference %.6f over %lld",
                  scored.loglikelihood, static_cast<long long>(scored.scored),
                  reference.loglikelihood, static_cast<long long>(reference.scored));
    out.detail = text;
  });
}

}  // namespace llmpi
