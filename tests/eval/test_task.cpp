#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "checkpoint_writer.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/eval/dataset.hpp"
#include "llmpi/eval/evaluator.hpp"
#include "llmpi/eval/multiple_choice.hpp"
#include "llmpi/eval/prompt_template.hpp"
#include "llmpi/eval/task.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

TEST_CASE("the shipped GSM8K task reads the test split inside the repository", "[eval][task]") {
  const TaskSpec task = load_task(LLMPI_TASKS_DIR "/gsm8k.yaml");
  CHECK(task.name == "gsm8k");
  CHECK(task.category == "math");
  CHECK(task.scorer.kind == ScorerKind::exact_match);
  CHECK(task.few_shot.count == 4);
  CHECK(task.generation.stop.size() == 2);
  CHECK(task.required_fields() == std::vector<std::string>{"question", "answer"});
  CHECK(std::filesystem::equivalent(task.dataset, LLMPI_TASKS_DIR "/data/gsm8k/test.jsonl"));
  CHECK(read_jsonl(task.dataset, {task.required_fields(), false, 0}).records.size() == 1319);
  const Dataset data = read_jsonl(task.dataset, {task.required_fields(), false, 20});
  REQUIRE(data.records.size() == 20);
  const PromptTemplate prompt(task.prompt, task.source);
  const std::string text = prompt.render(data.records[0].fields, "gsm8k:1");
  CHECK(text.rfind("Question: Janet", 0) == 0);
  CHECK(text.size() > 20);
}

TEST_CASE("the shipped multiple-choice set is well formed", "[eval][task]") {
  const TaskSpec task = load_task(LLMPI_TASKS_DIR "/everyday-science.yaml");
  CHECK(task.scorer.kind == ScorerKind::multiple_choice);
  const Dataset data = read_jsonl(task.dataset, {task.required_fields(), false, 0});
  CHECK(data.records.size() == 32);
  for (const auto& record : data.records) {
    CHECK(record.fields.at("choices").size() == 4);
    CHECK(record.fields.at("label").get<int>() < 4);
  }
}

TEST_CASE("task files are refused with file, line and what is valid", "[eval][task][bad-input]") {
  const std::string base = "category: math\ndataset: d.jsonl\nprompt: \"Q: {question}\"\n";
  CHECK_THROWS_WITH(parse_task(base + "scorer:\n  type: exact_match\ncolour: red\n", "t.yaml"),
                    Contains("t.yaml:6: key 'colour' is not a task key") && Contains("valid"));
  CHECK_THROWS_WITH(parse_task(base + "scorer:\n  type: vibes\n", "t.yaml"),
                    Contains("t.yaml:5: key 'scorer.type' is 'vibes'") &&
                        Contains("exact_match, multiple_choice, code"));
  CHECK_THROWS_WITH(
      parse_task(base + "generation:\n  max_new_tokens: lots\nscorer:\n  type: code\n", "t.yaml"),
      Contains("t.yaml:5: key 'generation.max_new_tokens' must be an integer, got 'lots'"));
  CHECK_THROWS_WITH(parse_task("dataset: d.jsonl\nprompt: x\n", "t.yaml"),
                    Contains("'category' is required"));
  CHECK_THROWS_WITH(parse_task("category: math\ndataset: d.jsonl\nprompt: \"Q: {question\"\n"
                               "scorer:\n  type: code\n",
                               "t.yaml"),
                    Contains("t.yaml:3: key 'prompt'") && Contains("unclosed '{'"));
}

TEST_CASE("templates name the missing field and what the record has", "[eval][task][bad-input]") {
  const PromptTemplate prompt("Q: {question} ({{literal}})", "t.yaml: prompt");
  CHECK(prompt.render({{"question", "2+2?"}}, "d.jsonl:1") == "Q: 2+2? ({literal})");
  CHECK_THROWS_WITH(prompt.render({{"q", "2+2?"}, {"a", 4}}, "d.jsonl:7"),
                    Contains("t.yaml: prompt names field 'question'") && Contains("d.jsonl:7") &&
                        Contains("it has: a, q"));
}

TEST_CASE("bad JSONL lines stop the read with file:line, or are skipped and counted",
          "[eval][dataset][bad-input]") {
  llmpi::testing::TempDir temp("jsonl");
  const auto path = temp.path() / "d.jsonl";
  llmpi::testing::write_text(path,
                             "{\"question\": \"a\", \"answer\": \"#### 1\"}\n"
                             "\n"
                             "{\"question\": \"b\", \"answer\": \n"
                             "[1, 2]\n"
                             "{\"question\": \"c\"}\n"
                             "{\"question\": \"d\", \"answer\": \"#### 4\"}\n");
  const DatasetOptions strict{{"question", "answer"}, false, 0};
  CHECK_THROWS_WITH(read_jsonl(path, strict),
                    Contains("d.jsonl:3: not valid JSON") && Contains("--skip-bad"));
  const Dataset skipped = read_jsonl(path, {{"question", "answer"}, true, 0});
  REQUIRE(skipped.records.size() == 2);
  CHECK(skipped.records[1].line == 6);
  REQUIRE(skipped.skipped.size() == 3);
  CHECK_THAT(skipped.skipped[1], Contains("d.jsonl:4: expected a JSON object"));
  CHECK_THAT(skipped.skipped[2], Contains("d.jsonl:5: missing field 'answer'"));
  CHECK_THROWS_WITH(read_jsonl(temp.path() / "none.jsonl", strict), Contains("does not exist"));

  // A record nested 100,000 deep: refused with its line, with --skip-bad skipped, never a crash.
  llmpi::testing::write_text(path, "{\"question\": \"a\", \"answer\": \"#### 1\"}\n{\"q\": " +
                                       std::string(100000, '[') + std::string(100000, ']') + "}\n");
  CHECK_THROWS_WITH(read_jsonl(path, strict),
                    Contains("d.jsonl:2: JSON nested more than 128 levels deep"));
  const Dataset deep = read_jsonl(path, {{"question", "answer"}, true, 0});
  CHECK(deep.records.size() == 1);
  REQUIRE(deep.skipped.size() == 1);
  CHECK_THAT(deep.skipped[0], Contains("d.jsonl:2: JSON nested more than 128"));

  // A FIFO in place of a dataset is refused at once (opening it would wait for a writer).
  const auto fifo = temp.path() / "fifo.jsonl";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_jsonl(fifo, strict), Contains("is a FIFO, not a regular file"));
}

TEST_CASE("task files that would expand without bound are refused with file and line",
          "[eval][task][bad-input]") {
  // The billion laughs: nine levels of ten aliases each.
  std::string bomb =
      "name: t\ncategory: math\ndataset: d.jsonl\nprompt: x\nscorer:\n"
      "  type: exact_match\nfew_shot:\n  template: &a0 [x]\n";
  for (int level = 1; level < 10; ++level) {
    bomb += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i)
      bomb += std::string(i ? ", " : "") + "*a" + std::to_string(level - 1);
    bomb += "]\n";
  }
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH(parse_task(bomb, "bomb.yaml"),
                    Contains("bomb.yaml:") && Contains("aliases are expanded"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK_THROWS_WITH(parse_task("name: " + std::string(100000, '[') + "\n", "deep.yaml"),
                    Contains("deep.yaml:1: YAML nested more than 64 levels deep"));
}

TEST_CASE(
    "multiple choice picks the most likely choice, raw and per character (the harness's "
    "acc and acc_norm)",
    "[eval]") {
  const std::vector<std::string> choices = {"cat", "a very long elephant", "dog"};
  const std::vector<double> loglik = {-4.0, -6.0, -4.0};  // tie between 0 and 2: lowest index
  const ChoiceScores scores = score_choices(loglik, choices);
  CHECK(scores.chosen == 0);
  CHECK(scores.chosen_normalised == 1);  // -6/20 beats -4/3
  CHECK(scores.loglik_normalised[1] == Approx(-0.3));
  CHECK_THROWS_WITH(score_choices(std::vector<double>{-1.0}, choices),
                    Contains("1 log-likelihoods for 3 choices"));
  // Characters, not bytes: "näive" is 5 characters in 6 bytes.
  const ChoiceScores accented =
      score_choices(std::vector<double>{-5.0, -5.1}, std::vector<std::string>{"näive", "naive"});
  CHECK(accented.loglik_normalised[0] == Approx(-1.0));
}

TEST_CASE("harness-style tasks: a target after the delimiter, chat turns, perplexity",
          "[eval][task]") {
  const std::string base = "category: math\ndataset: d.jsonl\nprompt: \"Q: {question}\\nA:\"\n";
  const Dataset data{"d.jsonl",
                     {{1, {{"question", "1+1"}, {"answer", "2"}}},
                      {2, {{"question", "2+2"}, {"answer", "4"}}},
                      {3, {{"question", "3+3"}, {"answer", "6"}}}},
                     {}};
  // Examples as the harness writes them: prompt, target_delimiter, target, separator.
  const TaskSpec plain = parse_task(
      base +
          "few_shot:\n  count: 2\n  target: \"{answer}\"\nscorer:\n  type: exact_match\n  "
          "extract: harness\n",
      "t.yaml");
  CHECK(plain.scorer.extraction == AnswerExtraction::harness);
  const auto plain_requests = prepare_requests(plain, data);
  REQUIRE(plain_requests.size() == 1);
  CHECK(plain_requests[0].prompt == "Q: 1+1\nA: 2\n\nQ: 2+2\nA: 4\n\nQ: 3+3\nA:");

  // The same as chat turns through a ChatML template, with a system message.
  const TaskSpec chat = parse_task(
      base +
          "chat: true\nsystem: Be brief.\nfew_shot:\n  count: 2\n  target: \"{answer}\"\n"
          "scorer:\n  type: exact_match\n",
      "t.yaml");
  const ChatTemplate chatml(
      "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
      "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' "
      "}}{% endif %}",
      "chatml", std::nullopt, std::nullopt);
  const auto chat_requests = prepare_requests(chat, data, &chatml);
  REQUIRE(chat_requests.size() == 1);
  CHECK(chat_requests[0].prompt ==
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nQ: 1+1\nA:<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n"
        "<|im_start|>user\nQ: 2+2\nA:<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nQ: 3+3\nA:<|im_end|>\n<|im_start|>assistant\n");
  CHECK_THROWS_WITH(prepare_requests(chat, data), Contains("chat template"));

  // What is refused, naming the key.
  CHECK_THROWS_WITH(
      parse_task(base + "chat: true\nfew_shot:\n  count: 2\n  template: \"{question}\"\n"
                        "scorer:\n  type: exact_match\n",
                 "t.yaml"),
      Contains("t.yaml") && Contains("few_shot.target") && Contains("chat: true"));
  CHECK_THROWS_WITH(parse_task(base + "few_shot:\n  count: 2\n  target: x\n  template: y\n"
                                      "scorer:\n  type: exact_match\n",
                               "t.yaml"),
                    Contains("give one"));
  CHECK_THROWS_WITH(parse_task(base + "system: hi\nscorer:\n  type: exact_match\n", "t.yaml"),
                    Contains("needs chat: true"));
  CHECK_THROWS_WITH(parse_task(base + "scorer:\n  type: exact_match\n  extract: fuzzy\n", "t.yaml"),
                    Contains("valid: gsm8k, none, harness"));

  // Multiple choice takes its continuation from the delimiter.
  const TaskSpec choice =
      parse_task(base + "target_delimiter: \"\\n\"\nscorer:\n  type: multiple_choice\n", "t.yaml");
  CHECK(choice.scorer.continuation == "\n{choice}");

  // Perplexity: the prompt is the document; no examples.
  const TaskSpec rolling = parse_task(
      "category: lm\ndataset: d.jsonl\nprompt: \"{text}\"\nscorer:\n  type: loglikelihood_rolling\n"
      "  window_tokens: 128\n",
      "p.yaml");
  CHECK(rolling.scorer.kind == ScorerKind::loglikelihood_rolling);
  CHECK(rolling.scorer.window_tokens == 128);
  CHECK(rolling.required_fields() == std::vector<std::string>{"text"});
  CHECK_THROWS_WITH(
      parse_task("category: lm\ndataset: d.jsonl\nprompt: \"{text}\"\nfew_shot:\n  count: 1\n"
                 "  target: x\nscorer:\n  type: loglikelihood_rolling\n",
                 "p.yaml"),
      Contains("few_shot.count must be 0"));
}
