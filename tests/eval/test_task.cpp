#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>

#include "checkpoint_writer.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/eval/dataset.hpp"
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

TEST_CASE("multiple choice picks the most likely continuation, raw and per byte", "[eval]") {
  const std::vector<std::string> continuations = {" cat", " a very long elephant", " dog"};
  const std::vector<double> loglik = {-4.0, -6.0, -4.0};  // tie between 0 and 2: lowest index
  const ChoiceScores scores = score_choices(loglik, continuations);
  CHECK(scores.chosen == 0);
  CHECK(scores.chosen_normalised == 1);  // -6/21 beats -4/4
  CHECK_THROWS_WITH(score_choices(std::vector<double>{-1.0}, continuations),
                    Contains("1 log-likelihoods for 3 choices"));
}
