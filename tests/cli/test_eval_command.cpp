// `llmpi eval` as users run it, on SmolLM2 (skipped with a warning when it is not fetched):
// the same scores and texts with the requests decoded as one batch and one at a time, with one
// rank, two data-parallel replicas and two pipeline stages; a run killed with SIGKILL
// part-way and resumed ends with every request exactly once and the same scores, and an
// existing results file is never overwritten by accident.
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "command.hpp"
#include "llmpi/results/results_file.hpp"
#include "process.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

std::string eval_command(int ranks, const std::filesystem::path& task,
                         const std::filesystem::path& out, const std::string& extra,
                         const std::string& environment = "") {
  return "timeout 300 " + mpiexec(ranks, environment) + LLMPI_BINARY +
         " eval --model " LLMPI_SMOLLM2_DIR " --tasks " + task.string() + " --out " + out.string() +
         " --limit 4 --progress-interval 0 " + extra;
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
  if (!std::filesystem::exists(LLMPI_SMOLLM2_DIR "/model.safetensors")) {
    WARN("SmolLM2 not present (scripts/fetch_smollm2.sh); skipping");
    return;
  }
  TempDir temp("eval");
  const auto task = temp.path() / "gsm8k-short.yaml";
  write_text(task, "name: gsm8k-short\ncategory: math\ndataset: " LLMPI_TASKS_DIR
                   "/data/gsm8k/test.jsonl\nprompt: \"Question: {question}\\nAnswer:\"\n"
                   "generation:\n  max_new_tokens: 12\n  stop: [\"\\n\\n\"]\n"
                   "scorer:\n  type: exact_match\n");

  const auto single = temp.path() / "single.h5";
  const CommandResult one = run_command(eval_command(1, task, single, ""));
  INFO(one.output);
  REQUIRE(one.exit_code == 0);
  const auto reference = scores_of(single);
  CHECK(reference.size() == 4);

  // The four decoded one at a time, one per round: the batched decode gives the same tokens.
  // A run that must succeed and give the reference's scores and texts; returns its file.
  const auto agrees = [&](int ranks, const std::string& name, const std::string& extra) {
    const auto file = temp.path() / name;
    const CommandResult run = run_command(eval_command(ranks, task, file, extra));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(scores_of(file) == reference);
    return file;
  };
  agrees(1, "sequential.h5", "--max-batch-sequences 1 --batches-per-round 1");

  // Three cache slots for four requests: the fourth takes the slot of the first to stop.
  agrees(1, "refilled.h5", "--max-batch-sequences 3");

  const auto replicas = agrees(2, "dp2.h5", "--max-batch-sequences 2 --batches-per-round 1");
  const RunMetadata metadata = ResultsReader(replicas).metadata();
  CHECK(metadata.dp == 2);
  REQUIRE(metadata.ranks.size() == 2);
  CHECK(metadata.ranks[1].rank == 1);
  CHECK(metadata.ranks[1].local_rank == 1);
  CHECK(metadata.ranks[1].device == -1);  // CPU backend

  // Two pipeline stages (SmolLM2's 9 heads allow no tp=2): the same scores.
  agrees(2, "pp2.h5", "--pp 2");

  // Existing file, no --resume or --overwrite: refused, file untouched.
  const CommandResult again = run_command(eval_command(1, task, single, ""));
  CHECK(again.exit_code != 0);
  CHECK(again.output.find(single.string()) != std::string::npos);
  CHECK(scores_of(single) == reference);

  // Rank 0 killed (SIGKILL, no clean-up) once the first round (2 requests: one per replica
  // with dp=2) is flushed, then resumed.
  const auto resumed = temp.path() / "resumed.h5";
  {
    Spawned run(eval_command(2, task, resumed, "--max-batch-sequences 1 --batches-per-round 1"));
    REQUIRE(run.wait_for("gsm8k-short 2/4", std::chrono::seconds(240)));
    const pid_t rank0 = find_rank_pid(resumed.string(), 0);
    REQUIRE(rank0 > 0);
    ::kill(rank0, SIGKILL);
    const CommandResult killed = run.finish(std::chrono::seconds(60));
    CHECK(killed.exit_code != 0);
  }
  const auto after_kill = scores_of(resumed);
  CHECK(after_kill.size() >= 2);
  const CommandResult finish = run_command(eval_command(2, task, resumed, "--resume"));
  INFO(finish.output);
  REQUIRE(finish.exit_code == 0);
  CHECK(finish.output.find(std::to_string(after_kill.size()) + " requests already done") !=
        std::string::npos);
  CHECK(scores_of(resumed) == reference);
}

TEST_CASE("eval refuses bad task input with the file and line, or skips and counts it",
          "[cli][eval][bad-input]") {
  TempDir temp("eval-bad");
  const auto data = temp.path() / "data.jsonl";
  write_text(data,
             "{\"question\": \"1+1?\", \"answer\": \"#### 2\"}\n{\"question\": \"2+2?\",\n"
             "{\"question\": \"3+3?\"}\n");
  const auto task = temp.path() / "task.yaml";
  write_text(task,
             "category: math\ndataset: data.jsonl\nprompt: \"Q: {question}\"\n"
             "generation:\n  max_new_tokens: 4\nscorer:\n  type: exact_match\n");
  const auto out = temp.path() / "out.h5";
  // The datasets are read before any model is loaded: a fixture without a tokenizer will do.
  const std::string fixture = (fixtures_dir() / "llama_gqa_f32").string();
  auto command = [&](const std::filesystem::path& t, const std::string& extra) {
    return "timeout 120 env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " LLMPI_BINARY
           " eval --model " +
           fixture + " --tasks " + t.string() + " --out " + out.string() + " " + extra;
  };
  const CommandResult strict = run_command(command(task, ""));
  CHECK(strict.exit_code == 1);
  CHECK(strict.output.find("data.jsonl:2: not valid JSON") != std::string::npos);
  CHECK(strict.output.find("--skip-bad") != std::string::npos);

  // With --skip-bad both bad lines are reported and skipped; the run then stops only because
  // the fixture has no tokenizer.
  const CommandResult skipping = run_command(command(task, "--skip-bad"));
  CHECK(skipping.output.find("skipped " + data.string() + ":2") != std::string::npos);
  CHECK(skipping.output.find("data.jsonl:3: missing field 'answer'") != std::string::npos);

  const auto unknown = temp.path() / "unknown.yaml";
  write_text(unknown,
             "category: math\ndataset: data.jsonl\nprompt: \"Q: {problem}\"\n"
             "scorer:\n  type: exact_match\n");
  write_text(data, "{\"question\": \"1+1?\", \"answer\": \"#### 2\"}\n");
  const CommandResult template_error = run_command(command(unknown, ""));
  CHECK(template_error.exit_code == 1);
  CHECK(template_error.output.find("missing field 'problem'") != std::string::npos);

  if (std::filesystem::exists(LLMPI_SMOLLM2_DIR "/model.safetensors")) {
    const CommandResult unwritable = run_command(
        "timeout 120 env OMPI_ALLOW_RUN_AS_ROOT=1 "
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " LLMPI_BINARY " eval --model " LLMPI_SMOLLM2_DIR
        " --tasks " +
        task.string() + " --out /nonexistent/dir/out.h5");
    CHECK(unwritable.exit_code == 1);
    CHECK(unwritable.output.find("/nonexistent/dir/out.h5") != std::string::npos);
  }
}

TEST_CASE("eval scores DNA sequences and variants with an Evo 2 model as evo2 does",
          "[cli][eval][evo2]") {
  // A tiny Evo 2 fixture (with and without FP8 input projections) and its two prompts;
  // evo2's score_sequences values in reference.json.
  const std::string fixture_name =
      GENERATE(as<std::string>{}, "evo2_tiny_f32", "evo2_tiny_fp8_f32");
  const auto fixture = fixtures_dir() / fixture_name;
  const auto reference = nlohmann::json::parse(read_text(fixture / "reference.json"));
  const auto& prompts = reference.at("prompts");
  const std::string first = prompts.at(0).at("text").get<std::string>();
  const std::string second = prompts.at(1).at("text").get<std::string>();
  const auto score = [&](int prompt, const char* key) {
    return prompts.at(prompt).at("score").at(key).get<double>();
  };
  TempDir temp("evo2-eval");
  const auto data = temp.path() / "dna.jsonl";
  write_text(data, "{\"id\": \"a\", \"sequence\": \"" + first + "\", \"reference\": \"" + second +
                       "\"}\n{\"id\": \"b\", \"sequence\": \"" + second + "\", \"reference\": \"" +
                       first + "\"}\n");
  const auto task = [&](const std::string& name, const std::string& scorer) {
    const auto path = temp.path() / (name + ".yaml");
    write_text(path, "name: " + name + "\ncategory: dna\ndataset: " + data.string() +
                         "\nprompt: \"{sequence}\"\nscorer:\n" + scorer);
    return path.string();
  };
  const std::string tasks = task("scores", "  type: loglikelihood_rolling\n") + "," +
                            task("scores-no-bos",
                                 "  type: loglikelihood_rolling\n"
                                 "  prepend_bos: false\n") +
                            "," +
                            task("variants", "  type: variant_effect\n  prepend_bos: false\n");
  for (const auto& [ranks, layout] : {std::pair{1, std::string()}, {4, " --tp 2 --pp 2"}}) {
    const auto out = temp.path() / ("dna-" + std::to_string(ranks) + ".h5");
    const CommandResult run = run_command(
        "timeout 300 " + mpiexec(ranks) + LLMPI_BINARY " eval --model " + fixture.string() +
        " --tasks " + tasks + " --out " + out.string() + " --progress-interval 0" + layout);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    std::map<std::string, RequestResult> rows;
    for (const RequestResult& r : ResultsReader(out).requests()) rows[r.id] = r;  // task/id
    REQUIRE(rows.size() == 6);
    // With the end-of-document id in front every base is scored: evo2's prepend_bos=True.
    CHECK(rows.at("scores/a").loglikelihood == Approx(score(0, "sum_bos")).epsilon(1e-4));
    CHECK(rows.at("scores/b").loglikelihood == Approx(score(1, "sum_bos")).epsilon(1e-4));
    // Its default: the first base conditions the rest.
    CHECK(rows.at("scores-no-bos/a").loglikelihood == Approx(score(0, "sum")).epsilon(1e-4));
    CHECK(rows.at("scores-no-bos/b").loglikelihood == Approx(score(1, "sum")).epsilon(1e-4));
    // A variant against its reference: the difference of sums, and of evo2's means.
    const RequestResult& variant = rows.at("variants/a");
    CHECK(variant.status == RequestStatus::ok);
    CHECK(variant.score == Approx(score(0, "sum") - score(1, "sum")).epsilon(1e-4));
    CHECK(variant.score_normalised == Approx(score(0, "mean") - score(1, "mean")).epsilon(1e-4));
    CHECK(rows.at("variants/b").score == Approx(-variant.score).epsilon(1e-6));
  }
  // Sequences longer than the context are scored in rolling windows, each a whole call (with
  // FP8, the window's last token is run too): every request still scores.
  const auto windows = temp.path() / "dna-windows.h5";
  const CommandResult run = run_command(
      "timeout 300 " + mpiexec(1) + LLMPI_BINARY " eval --model " + fixture.string() + " --tasks " +
      tasks + " --out " + windows.string() + " --progress-interval 0 --context-length 8");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  std::size_t scored = 0;
  for (const RequestResult& r : ResultsReader(windows).requests()) {
    CHECK(r.status == RequestStatus::ok);
    scored += r.status == RequestStatus::ok ? 1 : 0;
  }
  CHECK(scored == 6);
}
