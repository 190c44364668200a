// `llmpi eval` as users run it, on SmolLM2 (skipped with a warning when it is not fetched):
// the same scores with one rank and with two data-parallel replicas, a run killed with SIGKILL
// part-way and resumed ends with every request exactly once and the same scores, and an
// existing results file is never overwritten by accident.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <map>

#include "checkpoint_writer.hpp"
#include "llmpi/results/results_file.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
};

Run run(const std::string& command) {
  Run result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) result.output += buffer.data();
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string eval_command(int ranks, const std::filesystem::path& task,
                         const std::filesystem::path& out, const std::string& extra,
                         const std::string& environment = "") {
  return "timeout 300 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
         "OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 " +
         environment + " " LLMPI_MPIEXEC " -n " + std::to_string(ranks) + " " LLMPI_BINARY +
         " eval --model " LLMPI_SMOLLM2_DIR " --tasks " + task.string() + " --out " + out.string() +
         " --limit 4 " + extra;
}

std::map<std::string, std::pair<double, std::string>> scores_of(const std::filesystem::path& file) {
  std::map<std::string, std::pair<double, std::string>> scores;
  for (const RequestResult& r : ResultsReader(file).requests()) {
    REQUIRE(scores.count(r.id) == 0);  // every request exactly once
    scores[r.id] = {r.score, r.generated_text};
  }
  return scores;
}

}  // namespace

TEST_CASE("eval: one rank, two replicas, and a killed-then-resumed run agree", "[cli][eval]") {
  if (!std::filesystem::exists(LLMPI_SMOLLM2_DIR "/model.safetensors") ||
      !std::filesystem::exists(LLMPI_SHARED_DATA_DIR "/gsm8k/test.jsonl")) {
    WARN("SmolLM2 or GSM8K not present; skipping");
    return;
  }
  TempDir temp("eval");
  const auto task = temp.path() / "gsm8k-short.yaml";
  write_text(task, "name: gsm8k-short\ncategory: math\ndataset: " LLMPI_SHARED_DATA_DIR
                   "/gsm8k/test.jsonl\nprompt: \"Question: {question}\\nAnswer:\"\n"
                   "generation:\n  max_new_tokens: 12\n  stop: [\"\\n\\n\"]\n"
                   "scorer:\n  type: exact_match\n");

  const auto single = temp.path() / "single.h5";
  const Run one = run(eval_command(1, task, single, ""));
  INFO(one.output);
  REQUIRE(one.exit_code == 0);
  const auto reference = scores_of(single);
  CHECK(reference.size() == 4);

  const auto replicas = temp.path() / "dp2.h5";
  const Run two = run(eval_command(2, task, replicas, ""));
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  CHECK(scores_of(replicas) == reference);

  // Existing file, no --resume or --overwrite: refused, file untouched.
  const Run again = run(eval_command(1, task, single, ""));
  CHECK(again.exit_code != 0);
  CHECK(again.output.find(single.string()) != std::string::npos);
  CHECK(scores_of(single) == reference);

  // Killed after the first round (2 requests with dp=2), then resumed.
  const auto resumed = temp.path() / "resumed.h5";
  const Run killed = run(eval_command(2, task, resumed, "", "LLMPI_FAULT_KILL_AFTER_ROUNDS=1"));
  CHECK(killed.exit_code != 0);
  CHECK(scores_of(resumed).size() == 2);
  const Run finish = run(eval_command(2, task, resumed, "--resume"));
  INFO(finish.output);
  REQUIRE(finish.exit_code == 0);
  CHECK(finish.output.find("2 requests already done") != std::string::npos);
  CHECK(scores_of(resumed) == reference);
}
