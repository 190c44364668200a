#include "llmpi/eval/evaluator.hpp"

#include <algorithm>
#include <chrono>
#include <deque>

#include "llmpi/core/error.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/eval/answer_extraction.hpp"
#include "llmpi/eval/code_scorer.hpp"
#include "llmpi/eval/multiple_choice.hpp"
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

RequestOutcome outcome_of(const TaskSpec& task, const TaskRequest& request) {
  RequestOutcome out;
  out.id = request.id;
  out.task = task.name;
  out.category = task.category;
  return out;
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

}  // namespace

std::vector<TaskRequest> prepare_requests(const TaskSpec& task, const Dataset& dataset) {
  const PromptTemplate prompt(task.prompt, task.source + ": prompt");
  std::string prefix;
  std::size_t first = 0;
  if (task.few_shot.count > 0) {
    const PromptTemplate example(task.few_shot.template_text, task.source + ": few_shot.template");
    const Dataset shots =
        task.few_shot.dataset.empty()
            ? dataset
            : read_jsonl(task.few_shot.dataset,
                         {{}, false, static_cast<std::size_t>(task.few_shot.count)});
    const auto count =
        std::min<std::size_t>(static_cast<std::size_t>(task.few_shot.count), shots.records.size());
    for (std::size_t i = 0; i < count; ++i) {
      prefix += example.render(shots.records[i].fields,
                               shots.source + ":" + std::to_string(shots.records[i].line)) +
                task.few_shot.separator;
    }
    if (task.few_shot.dataset.empty()) first = count;  // examples are not evaluated
  }
  std::vector<TaskRequest> requests;
  for (std::size_t i = first; i < dataset.records.size(); ++i) {
    const DatasetRecord& record = dataset.records[i];
    const std::string where = dataset.source + ":" + std::to_string(record.line);
    requests.push_back({request_id(task, record), record.line, record.fields,
                        prefix + prompt.render(record.fields, where)});
  }
  return requests;
}

Evaluator::Evaluator(Transformer& model, const Tokenizer& tokenizer, BatchBudget budget)
    : model_(model), tokenizer_(tokenizer), budget_(budget) {}

RequestOutcome Evaluator::run(const TaskSpec& task, const TaskRequest& request) {
  const TaskRequest* one = &request;
  return run(task, std::span(&one, 1)).front();
}

std::vector<RequestOutcome> Evaluator::run(const TaskSpec& task,
                                           std::span<const TaskRequest* const> requests) {
  if (task.generation.samples > 1 && task.generation.temperature <= 0.0) {
    throw Error(task.source +
                ": generation.samples > 1 needs temperature > 0 (greedy samples "
                "would all be the same)");
  }
  if (task.scorer.kind != ScorerKind::multiple_choice) return generate_and_score(task, requests);
  std::vector<RequestOutcome> outcomes;
  for (const TaskRequest* request : requests) outcomes.push_back(choose(task, *request));
  return outcomes;
}

namespace {
// FNV-1a of the request id: a per-request seed stable across runs, ranks and platforms.
std::uint64_t id_hash(const std::string& id) {
  std::uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : id) hash = (hash ^ c) * 1099511628211ull;
  return hash;
}
}  // namespace

double Evaluator::score_completion(const TaskSpec& task, const TaskRequest& request,
                                   const std::string& text, std::string& detail) {
  if (task.scorer.kind == ScorerKind::exact_match) {
    const auto& answer = request.record.at(task.scorer.answer_field);
    const std::string reference_text =
        answer.is_string() ? answer.get<std::string>() : answer.dump();
    const auto reference = task.scorer.gsm8k_extraction
                               ? gsm8k_reference(reference_text)
                               : std::optional<std::string>(reference_text);
    if (!reference) {
      throw Error(record_where(task, request) + ": answer field '" + task.scorer.answer_field +
                  "' has no \"#### <number>\" reference");
    }
    const auto predicted = task.scorer.gsm8k_extraction ? extract_numeric_answer(text)
                                                        : std::optional<std::string>(text);
    detail = "predicted " + predicted.value_or("(none)") + ", reference " + *reference;
    return predicted && answers_match(*predicted, *reference) ? 1.0 : 0.0;
  }
  const SandboxResult run = run_code_tests(request.record, request.prompt, text, task.scorer);
  detail = status_name(run.status) + (run.detail.empty() ? "" : ": " + run.detail);
  return run.status == SandboxResult::Status::passed ? 1.0 : 0.0;
}

namespace {
// One completion's text, decoded as it streams so stop strings end generation on every rank
// alike.
struct CompletionText {
  explicit CompletionText(const Tokenizer& tokenizer) : decoder(tokenizer) {}
  IncrementalDecoder decoder;
  std::string text;
};
}  // namespace

std::vector<RequestOutcome> Evaluator::generate_and_score(
    const TaskSpec& task, std::span<const TaskRequest* const> requests) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const int positions = model_.config().max_position_embeddings;
  const auto& stops = task.generation.stop;
  // One completion (greedy), or `samples` sampled ones per request: the score is then the
  // pass@1 estimate c / n, and the detail reports pass@n.
  const int samples = task.generation.samples;
  std::vector<RequestOutcome> outcomes;
  std::vector<std::vector<std::int32_t>> prompts;
  for (const TaskRequest* request : requests) {
    outcomes.push_back(outcome_of(task, *request));
    prompts.push_back(tokenizer_.encode(request->prompt, true));
    outcomes.back().prompt_tokens = static_cast<int>(prompts.back().size());
    if (positions - outcomes.back().prompt_tokens < 1) {
      throw Error(record_where(task, *request) + ": the prompt has " +
                  std::to_string(outcomes.back().prompt_tokens) +
                  " tokens, more than the model's " + std::to_string(positions) + " positions");
    }
  }
  std::deque<CompletionText> texts;  // stable addresses for the callbacks
  std::vector<GenerationRequest> generations;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    for (int sample = 0; sample < samples; ++sample) {
      CompletionText& completion = texts.emplace_back(tokenizer_);
      GenerationOptions options;
      options.max_new_tokens =
          std::min(task.generation.max_new_tokens, positions - outcomes[r].prompt_tokens);
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
  // The paged cache holds budget_.kv_tokens tokens; a request joins the batch when its whole
  // length fits in what the running ones leave (one that alone exceeds the budget still runs:
  // the session checked that one full context fits).
  const double generation_start = seconds();  // after tokenizing the group's prompts
  const std::vector<GenerationResult> results = generate_batch(
      model_, generations, {.max_active = budget_.max_sequences, .kv_tokens = budget_.kv_tokens});

  // Times per request: from the group's start to its first token (waiting for a cache slot
  // included), and to its last sample's end plus its own scoring.
  for (std::size_t r = 0; r < requests.size(); ++r) {
    RequestOutcome& out = outcomes[r];
    const auto scoring_start = std::chrono::steady_clock::now();
    double generated = 0.0;
    int correct = 0;
    for (int sample = 0; sample < samples; ++sample) {
      const std::size_t at =
          r * static_cast<std::size_t>(samples) + static_cast<std::size_t>(sample);
      CompletionText& completion = texts[at];
      completion.text += completion.decoder.flush();
      if (const std::size_t cut = first_stop(completion.text, stops); cut != std::string::npos) {
        completion.text.resize(cut);
      }
      std::string detail;
      const double score = score_completion(task, *requests[r], completion.text, detail);
      correct += score > 0.0 ? 1 : 0;
      generated = std::max(generated, generation_start + results[at].first_token_seconds +
                                          results[at].decode_seconds);
      if (sample == 0) {
        out.generated_text = completion.text;
        out.generated_tokens = static_cast<int>(results[at].tokens.size());
        out.ttft_s = generation_start + results[at].first_token_seconds;
        out.detail = detail;
      }
    }
    out.score = static_cast<double>(correct) / samples;
    if (samples > 1) {
      out.detail += "; " + std::to_string(correct) + " of " + std::to_string(samples) +
                    " samples correct, pass@" + std::to_string(samples) + " " +
                    std::to_string(pass_at_k(samples, correct, samples));
    }
    out.score_normalised = out.score;
    out.latency_s =
        generated +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - scoring_start).count();
  }
  return outcomes;
}

RequestOutcome Evaluator::choose(const TaskSpec& task, const TaskRequest& request) {
  RequestOutcome out = outcome_of(task, request);
  const auto start = std::chrono::steady_clock::now();
  const std::string where = record_where(task, request);
  const auto& choices = request.record.at(task.scorer.choices_field);
  if (!choices.is_array() || choices.empty()) {
    throw Error(where + ": field '" + task.scorer.choices_field + "' must be a non-empty list");
  }
  const PromptTemplate continuation(task.scorer.continuation,
                                    task.source + ": scorer.continuation");
  const auto context = tokenizer_.encode(request.prompt, true);
  out.prompt_tokens = static_cast<int>(context.size());
  std::vector<std::string> texts;
  std::vector<double> loglik;
  for (const auto& choice : choices) {
    nlohmann::json fields = request.record;
    fields["choice"] = choice.is_string() ? choice.get<std::string>() : choice.dump();
    texts.push_back(continuation.render(fields, where));
    // The continuation's tokens as the whole text tokenizes (boundaries can merge).
    const auto whole = tokenizer_.encode(request.prompt + texts.back(), true);
    std::size_t common = 0;
    while (common < context.size() && common < whole.size() && whole[common] == context[common]) {
      ++common;
    }
    if (common == 0 || common == whole.size()) {
      throw Error(where + ": choice " + nlohmann::json(texts.back()).dump() +
                  " adds no tokens after the prompt");
    }
    loglik.push_back(model_.continuation_log_likelihood(std::span(whole).first(common),
                                                        std::span(whole).subspan(common)));
  }
  const ChoiceScores scores = score_choices(loglik, texts);
  const int label = label_index(request.record.at(task.scorer.label_field), choices.size(), where);
  out.choice_loglik = scores.loglik;
  out.choice_loglik_normalised = scores.loglik_normalised;
  out.chosen = scores.chosen;
  out.score = scores.chosen == label ? 1.0 : 0.0;
  out.score_normalised = scores.chosen_normalised == label ? 1.0 : 0.0;
  out.generated_text = texts[static_cast<std::size_t>(scores.chosen)];
  out.detail = "chose " + std::to_string(scores.chosen) + " (normalised " +
               std::to_string(scores.chosen_normalised) + "), label " + std::to_string(label);
  out.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace llmpi
