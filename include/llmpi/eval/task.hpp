#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace llmpi {

// exact_match and code generate; multiple_choice, loglikelihood_rolling (perplexity, sequence
// scores) and variant_effect (a variant's log-likelihood against its reference's) score given
// text by its log-likelihood.
enum class ScorerKind { exact_match, multiple_choice, code, loglikelihood_rolling, variant_effect };

struct GenerationSettings {
  int max_new_tokens = 256;
  std::vector<std::string> stop;  // generation ends at the first of these (not included)
  double temperature = 0.0;       // 0: greedy
  double top_p = 1.0;
  std::uint64_t seed = 1234;  // per request: seed + request index
  int samples = 1;            // completions per request (pass@k for code)
};

// How exact_match reads the reference and the completion.
enum class AnswerExtraction {
  gsm8k,    // reference after "####"; the number the completion commits to, normalised
  none,     // the whole texts
  harness,  // lm-evaluation-harness's GSM8K: score by its strict-match filter and exact_match,
            // score_normalised by its flexible-extract filter
};

struct ScorerSpec {
  ScorerKind kind = ScorerKind::exact_match;
  // exact_match
  std::string answer_field = "answer";
  AnswerExtraction extraction = AnswerExtraction::gsm8k;
  // multiple_choice
  std::string choices_field = "choices";
  std::string label_field = "label";  // index, or a letter A, B, ...
  std::string continuation = " {choice}";
  // code (HumanEval)
  std::string tests_field = "test";
  std::string entry_point_field = "entry_point";
  double timeout_s = 10.0;
  // loglikelihood_rolling, variant_effect: tokens one window runs at most (0: the context);
  // whether a document is scored after the beginning- (else end-) of-text token, every token of
  // it scored (the harness; evo2's prepend_bos=True), or its first token only conditions the
  // rest (evo2's default score_sequences)
  std::int64_t window_tokens = 0;
  bool prepend_bos = true;
  // variant_effect: the field holding the reference sequence (the prompt is the variant)
  std::string reference_field = "reference";
};

struct FewShotSpec {
  int count = 0;
  std::filesystem::path dataset;  // empty: the first `count` records of the task's dataset,
                                  // which are then not evaluated
  std::string template_text;      // one solved example; or, as the harness builds one:
  std::string target;             // the prompt, the task's target_delimiter, then this
  std::string separator = "\n\n";
};

// What happens to a request whose prompt leaves no room in the context for a new token.
enum class LongPromptPolicy {
  fail,           // a failed row (the default): nothing is silently changed
  skip,           // a skipped row, not scored
  truncate_left,  // its first tokens dropped to fit, as lm-evaluation-harness does; scored
};
// How a failed request counts in its task's score.
enum class FailurePolicy {
  count_as_wrong,  // score 0 (the default): a model that breaks the scorer gains nothing
  exclude,         // not scored
};

// A task file (YAML; schema in docs/tasks.md): a JSONL dataset, its category, a prompt
// template with optional few-shot examples, generation settings and a scorer.
struct TaskSpec {
  std::string name;
  std::string source;  // the YAML file, for messages
  std::string category;
  std::filesystem::path dataset;  // resolved against the task file's folder
  std::string prompt;
  FewShotSpec few_shot;
  GenerationSettings generation;
  ScorerSpec scorer;
  LongPromptPolicy long_prompt = LongPromptPolicy::fail;
  FailurePolicy failed_requests = FailurePolicy::count_as_wrong;
  // Between a prompt and its answer: a few-shot example's target, a choice's continuation.
  std::string target_delimiter = " ";
  // Prompts rendered with the checkpoint's chat template: the system message (if any), each
  // few-shot example as a user turn (its prompt) and an assistant turn (its target), then the
  // request's prompt as a user turn and the generation prompt, as lm-evaluation-harness does
  // with --apply_chat_template --fewshot_as_multiturn.
  bool chat = false;
  std::string system;

  // The dataset fields the prompt, few-shot template and scorer read.
  std::vector<std::string> required_fields() const;
};

TaskSpec load_task(const std::filesystem::path& path);
TaskSpec parse_task(const std::string& yaml_text, const std::string& source);

std::string scorer_name(ScorerKind kind);
// "fail", "skip", "truncate-left": the names task files and --long-prompt use.
std::optional<LongPromptPolicy> parse_long_prompt_policy(const std::string& name);

}  // namespace llmpi
