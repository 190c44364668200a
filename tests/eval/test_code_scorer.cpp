#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "llmpi/eval/code_scorer.hpp"
#include "llmpi/eval/dataset.hpp"
#include "llmpi/eval/prompt_template.hpp"

using namespace llmpi;

TEST_CASE("pass@k is the unbiased estimate", "[eval][code]") {
  CHECK(pass_at_k(1, 1, 1) == 1.0);
  CHECK(pass_at_k(1, 0, 1) == 0.0);
  CHECK(pass_at_k(10, 3, 1) == Approx(0.3));
  CHECK(pass_at_k(10, 3, 5) == Approx(1.0 - (7.0 * 6 * 5 * 4 * 3) / (10.0 * 9 * 8 * 7 * 6)));
  CHECK(pass_at_k(5, 4, 2) == 1.0);
}

TEST_CASE("HumanEval: canonical solutions pass, wrong and empty ones fail", "[eval][code]") {
  const TaskSpec task = load_task(LLMPI_TASKS_DIR "/humaneval.yaml");
  if (!std::filesystem::exists(task.dataset)) {
    WARN("HumanEval not fetched (scripts/fetch_datasets.sh); skipping");
    return;
  }
  const Dataset data = read_jsonl(task.dataset, {task.required_fields(), false, 8});
  const PromptTemplate prompt(task.prompt, task.source);
  for (const DatasetRecord& record : data.records) {
    const std::string text =
        prompt.render(record.fields, "HumanEval.jsonl:" + std::to_string(record.line));
    const std::string canonical = record.fields.at("canonical_solution").get<std::string>();
    INFO(record.fields.at("task_id").get<std::string>());
    CHECK(run_code_tests(record.fields, text, canonical, task.scorer).status ==
          SandboxResult::Status::passed);
    CHECK(run_code_tests(record.fields, text, "    return None\n", task.scorer).status ==
          SandboxResult::Status::failed);
    CHECK(run_code_tests(record.fields, text, "", task.scorer).status ==
          SandboxResult::Status::failed);
  }
}
