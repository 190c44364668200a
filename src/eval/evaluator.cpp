#include "llmpi/eval/evaluator.hpp"

#include <chrono>

#include "llmpi/core/error.hpp"
#include "llmpi/engine/greedy_generator.hpp"
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

Evaluator::Evaluator(Transformer& model, const Tokenizer& tokenizer)
    : model_(model), tokenizer_(tokenizer) {}

RequestOutcome Evaluator::run(const TaskSpec& task, const TaskRequest& request) {
  if (task.generation.temperature > 0.0 || task.generation.samples > 1) {
    throw Error(task.source +
                ": sampling (temperature > 0, samples > 1) is not implemented "
                "yet; use temperature 0 and samples 1");
  }
  return task.scorer.kind == ScorerKind::multiple_choice ? choose(task, request)
                                                         : generate_and_score(task, request);
}

RequestOutcome Evaluator::generate_and_score(const TaskSpec& task, const TaskRequest& request) {
  RequestOutcome out = outcome_of(task, request);
  const auto start = std::chrono::steady_clock::now();
  const auto prompt = tokenizer_.encode(request.prompt, true);
  out.prompt_tokens = static_cast<int>(prompt.size());
  const int room = model_.config().max_position_embeddings - out.prompt_tokens;
  if (room < 1) {
    throw Error(record_where(task, request) + ": the prompt has " +
                std::to_string(out.prompt_tokens) + " tokens, more than the model's " +
                std::to_string(model_.config().max_position_embeddings) + " positions");
  }
  // Text so far, decoded as it streams, so stop strings end generation on every rank alike.
  IncrementalDecoder decoder(tokenizer_);
  std::string text;
  GenerationOptions options;
  options.max_new_tokens = std::min(task.generation.max_new_tokens, room);
  options.stop_at_eos = true;
  options.stop_after = [&](std::int32_t token) {
    text += decoder.push(token);
    return first_stop(text, task.generation.stop) != std::string::npos;
  };
  const GenerationResult result = generate_greedy(model_, prompt, options);
  text += decoder.flush();
  if (const std::size_t cut = first_stop(text, task.generation.stop); cut != std::string::npos) {
    text.resize(cut);
  }
  out.generated_tokens = static_cast<int>(result.tokens.size());
  out.ttft_s = result.prefill_seconds;
  out.generated_text = text;

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
    out.score = predicted && answers_match(*predicted, *reference) ? 1.0 : 0.0;
    out.detail = "predicted " + predicted.value_or("(none)") + ", reference " + *reference;
  } else {
    const SandboxResult run = run_code_tests(request.record, request.prompt, text, task.scorer);
    out.score = run.status == SandboxResult::Status::passed ? 1.0 : 0.0;
    out.detail = status_name(run.status) + (run.detail.empty() ? "" : ": " + run.detail);
  }
  out.score_normalised = out.score;
  out.latency_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
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
