// The evaluator end to end on the real small model (SmolLM2-135M-Instruct, CPU): two GSM8K
// problems (4-shot), two HumanEval problems, three multiple-choice questions. Checks what
// must hold whatever a 135M model answers: stop strings are honoured, every score is 0 or 1,
// code runs in the sandbox (never a sandbox error), the same request gives the same outcome,
// and multiple choice picks an existing choice. Prints the outcomes. Exit 77: model absent.
#include <cstdio>
#include <filesystem>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/eval/evaluator.hpp"

using namespace llmpi;

namespace {

int failures = 0;
void expect(bool condition, const std::string& what) {
  if (!condition) {
    std::printf("FAIL: %s\n", what.c_str());
    ++failures;
  }
}

void show(const RequestResult& o) {
  std::printf("%-22s score %.0f (normalised %.0f) prompt %4d tokens, generated %3d, %.2f s: %s\n",
              o.id.c_str(), o.score, o.score_normalised, o.prompt_tokens, o.generated_tokens,
              o.latency_s, o.detail.c_str());
}

}  // namespace

int main() {
  const std::filesystem::path model_dir = LLMPI_SMOLLM2_DIR;
  if (!std::filesystem::exists(model_dir / "model.safetensors")) {
    std::printf("SKIP: %s not present; scripts/fetch_smollm2.sh fetches it\n", model_dir.c_str());
    return 77;
  }
  try {
    ModelConfig config = load_model_config(model_dir);
    Checkpoint checkpoint(model_dir);
    CpuBackend backend;
    Transformer model(config, load_model_weights(config, checkpoint, backend), backend);
    const auto tokenizer = load_tokenizer(model_dir);
    Evaluator evaluator(model, *tokenizer);

    TaskSpec gsm8k = load_task(LLMPI_TASKS_DIR "/gsm8k.yaml");
    gsm8k.generation.max_new_tokens = 96;
    if (std::filesystem::exists(gsm8k.dataset)) {
      const auto requests =
          prepare_requests(gsm8k, read_jsonl(gsm8k.dataset, {gsm8k.required_fields(), false, 6}));
      expect(requests.size() == 2, "4 of 6 records become few-shot examples");
      std::vector<RequestResult> alone;
      for (const auto& request : requests) {
        const RequestResult o = evaluator.run(gsm8k, request);
        show(o);
        expect(o.score == 0.0 || o.score == 1.0, "exact match scores 0 or 1");
        expect(o.generated_text.find("\nQuestion:") == std::string::npos, "stop string honoured");
        expect(request.prompt.rfind("Question: ", 0) == 0, "few-shot examples come first");
        alone.push_back(o);
      }
      // Decoded together, and one at a time through one cache slot (a KV budget too small for
      // both): the same outcomes.
      const std::vector<const TaskRequest*> both = {&requests[0], &requests[1]};
      Evaluator tight(model, *tokenizer, {0, 1});
      for (Evaluator* e : {&evaluator, &tight}) {
        const std::vector<RequestResult> together = e->run(gsm8k, both);
        for (std::size_t i = 0; i < both.size(); ++i) {
          expect(together[i].generated_text == alone[i].generated_text &&
                     together[i].score == alone[i].score,
                 "a batch gives request " + std::to_string(i) + " the text it gets alone");
        }
      }
      const RequestResult again = evaluator.run(gsm8k, requests.front());
      expect(again.generated_text == evaluator.run(gsm8k, requests.front()).generated_text,
             "the same request gives the same text");
    }

    TaskSpec humaneval = load_task(LLMPI_TASKS_DIR "/humaneval.yaml");
    humaneval.generation.max_new_tokens = 128;
    if (std::filesystem::exists(humaneval.dataset)) {
      const auto requests = prepare_requests(
          humaneval, read_jsonl(humaneval.dataset, {humaneval.required_fields(), false, 2}));
      for (const auto& request : requests) {
        const RequestResult o = evaluator.run(humaneval, request);
        show(o);
        expect(o.detail.rfind("sandbox_error", 0) != 0, "code ran in the sandbox: " + o.detail);
        expect(o.generated_text.find("\ndef ") == std::string::npos, "stop string honoured");
      }
    }

    // Sampling several completions: seeded, so the same request gives the same samples.
    humaneval.generation.temperature = 0.8;
    humaneval.generation.samples = 3;
    humaneval.generation.max_new_tokens = 48;
    if (std::filesystem::exists(humaneval.dataset)) {
      const auto requests = prepare_requests(
          humaneval, read_jsonl(humaneval.dataset, {humaneval.required_fields(), false, 1}));
      const RequestResult first = evaluator.run(humaneval, requests.front());
      const RequestResult second = evaluator.run(humaneval, requests.front());
      show(first);
      expect(first.detail.find("of 3 samples correct") != std::string::npos, "3 samples scored");
      expect(first.generated_text == second.generated_text && first.score == second.score,
             "sampling is reproducible from the seed");
    }

    const TaskSpec choice = parse_task(
        "name: facts\ncategory: reasoning\ndataset: none.jsonl\n"
        "prompt: \"Question: {question}\\nAnswer:\"\n"
        "scorer:\n  type: multiple_choice\n  choices_field: choices\n  label_field: label\n",
        "inline-facts.yaml");
    Dataset facts;
    facts.source = "inline";
    facts.records = {{1,
                      {{"question", "What is the capital of France?"},
                       {"choices", {"Paris", "Berlin", "Rome"}},
                       {"label", 0}}},
                     {2,
                      {{"question", "How many legs does a spider have?"},
                       {"choices", {"six", "eight", "ten"}},
                       {"label", "B"}}},
                     {3,
                      {{"question", "Which is a colour?"},
                       {"choices", {"table", "green", "seven"}},
                       {"label", 1}}}};
    for (const auto& request : prepare_requests(choice, facts)) {
      const RequestResult o = evaluator.run(choice, request);
      show(o);
      expect(o.chosen >= 0 && o.chosen < 3 && o.choice_loglik.size() == 3, "a choice is made");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::printf("%d failed checks\n", failures);
  return failures == 0 ? 0 : 1;
}
