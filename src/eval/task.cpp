#include "llmpi/eval/task.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "llmpi/config/yaml_document.hpp"
#include "llmpi/config/yaml_map.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/input_file.hpp"
#include "llmpi/eval/prompt_template.hpp"

namespace llmpi {

namespace {

void add_unique(std::vector<std::string>& names, const std::string& name) {
  if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
}

std::filesystem::path relative_to(const std::string& source, const std::string& path) {
  const std::filesystem::path given(path);
  if (given.is_absolute()) return given;
  return std::filesystem::path(source).parent_path() / given;
}

}  // namespace

std::string scorer_name(ScorerKind kind) {
  switch (kind) {
    case ScorerKind::exact_match:
      return "exact_match";
    case ScorerKind::multiple_choice:
      return "multiple_choice";
    case ScorerKind::code:
      return "code";
    case ScorerKind::loglikelihood_rolling:
      return "loglikelihood_rolling";
    case ScorerKind::variant_effect:
      return "variant_effect";
  }
  return "?";
}

std::optional<LongPromptPolicy> parse_long_prompt_policy(const std::string& name) {
  if (name == "fail") return LongPromptPolicy::fail;
  if (name == "skip") return LongPromptPolicy::skip;
  if (name == "truncate-left") return LongPromptPolicy::truncate_left;
  return std::nullopt;
}

std::vector<std::string> TaskSpec::required_fields() const {
  const PromptTemplate prompt_template(prompt, source + ": prompt");
  std::vector<std::string> fields = prompt_template.fields();
  if (few_shot.count > 0 && few_shot.dataset.empty()) {
    const PromptTemplate example(few_shot.template_text, source + ": few_shot.template");
    for (const auto& f : example.fields()) add_unique(fields, f);
    const PromptTemplate target(few_shot.target, source + ": few_shot.target");
    for (const auto& f : target.fields()) add_unique(fields, f);
  }
  switch (scorer.kind) {
    case ScorerKind::exact_match:
      add_unique(fields, scorer.answer_field);
      break;
    case ScorerKind::multiple_choice:
      add_unique(fields, scorer.choices_field);
      add_unique(fields, scorer.label_field);
      break;
    case ScorerKind::code:
      add_unique(fields, scorer.tests_field);
      add_unique(fields, scorer.entry_point_field);
      break;
    case ScorerKind::loglikelihood_rolling:
      break;  // the prompt is the document
    case ScorerKind::variant_effect:
      add_unique(fields, scorer.reference_field);  // the prompt is the variant
      break;
  }
  return fields;
}

TaskSpec parse_task(const std::string& yaml_text, const std::string& source) {
  const YAML::Node document = load_yaml(yaml_text, source);
  const YamlMap top(document, source, "",
                    {"name", "category", "dataset", "prompt", "few_shot", "generation", "scorer",
                     "long_prompt", "failed_requests", "target_delimiter", "chat", "system"},
                    1, "task");
  TaskSpec task;
  task.source = source;
  task.name = top.string("name", std::filesystem::path(source).stem().string());
  task.category = top.string("category", "");
  if (task.category.empty()) {
    throw Error(top.where("category") + " is required (reasoning, math, coding, ...)");
  }
  const std::string dataset = top.string("dataset", "");
  if (dataset.empty()) throw Error(top.where("dataset") + " is required: a JSONL file");
  task.dataset = relative_to(source, dataset);
  task.prompt = top.string("prompt", "");
  if (task.prompt.empty()) throw Error(top.where("prompt") + " is required: the prompt template");
  PromptTemplate(task.prompt, top.where("prompt"));  // syntax errors now, with the line

  const std::string long_prompt = top.string("long_prompt", "fail");
  const auto policy = parse_long_prompt_policy(long_prompt);
  if (!policy) {
    throw Error(top.where("long_prompt") + " is '" + long_prompt +
                "'; valid: fail, skip, truncate-left");
  }
  task.long_prompt = *policy;
  const std::string failed = top.string("failed_requests", "wrong");
  if (failed != "wrong" && failed != "exclude") {
    throw Error(top.where("failed_requests") + " is '" + failed + "'; valid: wrong, exclude");
  }
  task.failed_requests = failed == "wrong" ? FailurePolicy::count_as_wrong : FailurePolicy::exclude;

  task.target_delimiter = top.string("target_delimiter", " ");
  task.chat = top.boolean("chat", false);
  task.system = top.string("system", "");
  if (!task.system.empty() && !task.chat) {
    throw Error(top.where("system") + " is a chat system message: it needs chat: true");
  }
  const YamlMap few_shot =
      top.map("few_shot", {"count", "dataset", "template", "target", "separator"});
  task.few_shot.count = few_shot.small_integer("count", 0);
  if (task.few_shot.count < 0) throw Error(few_shot.where("count") + " must be at least 0");
  if (few_shot.has("dataset")) {
    task.few_shot.dataset = relative_to(source, few_shot.string("dataset", ""));
  }
  task.few_shot.template_text = few_shot.string("template", "");
  task.few_shot.target = few_shot.string("target", "");
  task.few_shot.separator = few_shot.string("separator", "\n\n");
  if (!task.few_shot.template_text.empty() && !task.few_shot.target.empty()) {
    throw Error(few_shot.where("target") +
                " and few_shot.template are two ways to write an example: give one");
  }
  if (task.few_shot.count > 0 && task.chat && task.few_shot.target.empty()) {
    throw Error(few_shot.where("target") +
                " is required with chat: true and few_shot.count > 0: each example's answer, "
                "its assistant turn");
  }
  if (task.few_shot.count > 0 && task.few_shot.template_text.empty() &&
      task.few_shot.target.empty()) {
    throw Error(few_shot.where("template") +
                " (or few_shot.target) is required when few_shot.count > 0: how one solved "
                "example reads");
  }
  PromptTemplate(task.few_shot.template_text, few_shot.where("template"));
  PromptTemplate(task.few_shot.target, few_shot.where("target"));

  const YamlMap generation =
      top.map("generation", {"max_new_tokens", "stop", "temperature", "top_p", "seed", "samples"});
  task.generation.max_new_tokens = generation.small_integer("max_new_tokens", 256);
  if (task.generation.max_new_tokens < 1)
    throw Error(generation.where("max_new_tokens") + " must be at least 1");
  task.generation.stop = generation.strings("stop");
  task.generation.temperature = generation.number("temperature", 0.0);
  if (task.generation.temperature < 0.0)
    throw Error(generation.where("temperature") + " must be at least 0");
  task.generation.top_p = generation.number("top_p", 1.0);
  if (task.generation.top_p <= 0.0 || task.generation.top_p > 1.0) {
    throw Error(generation.where("top_p") + " must be in (0, 1]");
  }
  task.generation.seed = static_cast<std::uint64_t>(generation.integer("seed", 1234));
  task.generation.samples = generation.small_integer("samples", 1);
  if (task.generation.samples < 1) throw Error(generation.where("samples") + " must be at least 1");

  const YamlMap scorer =
      top.map("scorer", {"type", "answer_field", "extract", "choices_field", "label_field",
                         "continuation", "tests_field", "entry_point_field", "timeout_s",
                         "window_tokens", "prepend_bos", "reference_field"});
  const std::string type = scorer.string("type", "");
  if (type == "exact_match") {
    task.scorer.kind = ScorerKind::exact_match;
    task.scorer.answer_field = scorer.string("answer_field", "answer");
    const std::string extract = scorer.string("extract", "gsm8k");
    const std::pair<const char*, AnswerExtraction> extractions[] = {
        {"gsm8k", AnswerExtraction::gsm8k},
        {"none", AnswerExtraction::none},
        {"harness", AnswerExtraction::harness}};
    const auto* chosen = std::ranges::find_if(
        extractions, [&](const auto& named) { return extract == named.first; });
    if (chosen == std::end(extractions)) {
      throw Error(scorer.where("extract") + " is '" + extract + "'; valid: gsm8k, none, harness");
    }
    task.scorer.extraction = chosen->second;
  } else if (type == "multiple_choice") {
    task.scorer.kind = ScorerKind::multiple_choice;
    task.scorer.choices_field = scorer.string("choices_field", "choices");
    task.scorer.label_field = scorer.string("label_field", "label");
    task.scorer.continuation = scorer.string("continuation", task.target_delimiter + "{choice}");
  } else if (type == "code") {
    task.scorer.kind = ScorerKind::code;
    task.scorer.tests_field = scorer.string("tests_field", "test");
    task.scorer.entry_point_field = scorer.string("entry_point_field", "entry_point");
    task.scorer.timeout_s = scorer.number("timeout_s", 10.0);
    if (task.scorer.timeout_s <= 0.0) throw Error(scorer.where("timeout_s") + " must be positive");
  } else if (type == "loglikelihood_rolling" || type == "variant_effect") {
    task.scorer.kind =
        type == "variant_effect" ? ScorerKind::variant_effect : ScorerKind::loglikelihood_rolling;
    task.scorer.window_tokens = scorer.integer("window_tokens", 0);
    if (task.scorer.window_tokens < 0) {
      throw Error(scorer.where("window_tokens") + " must be at least 0 (0: the context)");
    }
    task.scorer.prepend_bos = scorer.boolean("prepend_bos", true);
    task.scorer.reference_field = scorer.string("reference_field", "reference");
    if (task.few_shot.count > 0) {
      throw Error(scorer.where("type") + " " + type +
                  " scores the prompt as a document: few_shot.count must be 0");
    }
  } else {
    throw Error(scorer.where("type") + " is '" + type +
                "'; valid: exact_match, multiple_choice, code, loglikelihood_rolling, "
                "variant_effect");
  }
  return task;
}

TaskSpec load_task(const std::filesystem::path& path) {
  constexpr std::uint64_t kMaxBytes = std::uint64_t{4} << 20;
  return parse_task(read_input_file(path, "task file", kMaxBytes), path.string());
}

}  // namespace llmpi
