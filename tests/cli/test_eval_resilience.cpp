// `llmpi eval` when things go wrong, on a tiny random model that runs a request in
// milliseconds: resume by exact id, requests that fail alone, stop requests on one rank, and a
// run killed and signalled at random points until it is done, which must end as an
// uninterrupted run does.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "checkpoint_writer.hpp"
#include "command.hpp"
#include "llmpi/core/stop_request.hpp"
#include "llmpi/results/results_file.hpp"
#include "process.hpp"
#include "reference_fixture.hpp"
#include "tiny_eval_model.hpp"

using namespace llmpi;
using namespace llmpi::testing;
using Catch::Matchers::Contains;

namespace {

// A task `t` of `count` questions with ids q0, q1, ... in `dir`; returns the task file.
std::string numbered_task(const std::filesystem::path& dir, int count) {
  write_questions(dir / "data.jsonl", numbered_ids(count));
  write_question_task(dir / "t.yaml", "t", "data.jsonl");
  return (dir / "t.yaml").string();
}

std::string eval(const std::filesystem::path& model, int ranks, const std::string& tasks,
                 const std::filesystem::path& out, const std::string& extra) {
  return "timeout 120 " + mpiexec(ranks) + LLMPI_BINARY " eval --model " + model.string() +
         " --tasks " + tasks + " --out " + out.string() + " --progress-interval 0 " + extra;
}

std::map<std::string, RequestResult> rows_by_id(const std::filesystem::path& file) {
  std::map<std::string, RequestResult> rows;
  for (RequestResult& row : ResultsReader(file).requests()) {
    const std::string id = row.id;
    REQUIRE(rows.emplace(id, std::move(row)).second);  // every request exactly once
  }
  return rows;
}

// Same scores (NaN alike), texts and statuses, request by request.
void check_same_results(const std::map<std::string, RequestResult>& got,
                        const std::map<std::string, RequestResult>& want) {
  REQUIRE(got.size() == want.size());
  for (const auto& [id, row] : want) {
    INFO("request " << id);
    REQUIRE(got.count(id) == 1);
    const RequestResult& other = got.at(id);
    CHECK(other.status == row.status);
    CHECK(other.generated_text == row.generated_text);
    CHECK(other.choice_loglik == row.choice_loglik);
    CHECK((other.score == row.score || (std::isnan(other.score) && std::isnan(row.score))));
  }
}

}  // namespace

TEST_CASE("resume skips exactly the finished ids, whatever their suffixes and prefixes",
          "[cli][eval][resume]") {
  TempDir temp("eval-ids");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::vector<std::string> ids = {"q0", "q1", "q10", "q100", "aq0", "q0a", "0"};
  write_questions(temp.path() / "data.jsonl", ids);
  write_question_task(temp.path() / "mmlu.yaml", "mmlu", "data.jsonl");
  write_question_task(temp.path() / "cmmlu.yaml", "cmmlu", "data.jsonl");
  const auto out = temp.path() / "run.h5";
  const auto cmmlu = (temp.path() / "cmmlu.yaml").string();
  const auto both = cmmlu + "," + (temp.path() / "mmlu.yaml").string();

  // cmmlu/q0 done must not make mmlu/q0 (its suffix) count as done.
  const CommandResult first = run_command(eval(model, 1, cmmlu, out, ""));
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  const CommandResult second = run_command(eval(model, 2, both, out, "--resume"));
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output, Contains("7 requests already done"));
  const auto rows = rows_by_id(out);
  CHECK(rows.size() == 14);
  for (const std::string& id : ids) {
    CHECK(rows.count("mmlu/" + id) == 1);
    CHECK(rows.count("cmmlu/" + id) == 1);
  }
}

TEST_CASE("a request that cannot run or be scored fails alone; the run goes on",
          "[cli][eval][bad-input]") {
  TempDir temp("eval-fail");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  write_text(temp.path() / "data.jsonl",
             "{\"id\": \"fine\", \"question\": \"1 + 1?\", \"answer\": \"#### 2\"}\n"
             "{\"id\": \"long\", \"question\": \"" +
                 std::string(300, 'x') +
                 "\", \"answer\": \"#### 1\"}\n"
                 "{\"id\": \"no-reference\", \"question\": \"2 + 2?\", \"answer\": \"four\"}\n"
                 "{\"id\": \"mid\", \"question\": \"" +
                 std::string(40, 'y') + "\", \"answer\": \"#### 3\"}\n");
  const auto task = temp.path() / "task.yaml";
  write_question_task(task, "t", "data.jsonl");
  const auto out = temp.path() / "run.h5";

  const CommandResult run = run_command(eval(model, 1, task.string(), out, ""));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  auto rows = rows_by_id(out);
  CHECK(rows.at("t/fine").status == RequestStatus::ok);
  CHECK(rows.at("t/mid").status == RequestStatus::ok);
  CHECK(rows.at("t/long").status == RequestStatus::failed);
  CHECK_THAT(rows.at("t/long").error, Contains("the context 128") && Contains("long_prompt: fail"));
  CHECK(rows.at("t/long").score == 0.0);  // counts as wrong by default
  CHECK(rows.at("t/no-reference").status == RequestStatus::failed);
  CHECK_THAT(rows.at("t/no-reference").error, Contains("scorer") && Contains("####"));
  const CommandResult report = run_command(LLMPI_BINARY " report " + out.string());
  CHECK(report.exit_code == 0);
  CHECK_THAT(report.output, Contains("t/long") && Contains("failed"));
  // A file that cannot be read fully is an error, not an empty table.
  const auto cut = temp.path() / "cut.h5";
  std::filesystem::copy_file(out, cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(cut) * 3 / 4);
  const CommandResult damaged = run_command(LLMPI_BINARY " report " + cut.string());
  CHECK(damaged.exit_code == 1);
  CHECK_THAT(damaged.output, Contains("cut.h5"));

  CHECK(
      run_command(eval(model, 1, task.string(), out, "--overwrite --long-prompt skip")).exit_code ==
      0);
  rows = rows_by_id(out);
  CHECK(rows.at("t/long").status == RequestStatus::skipped);
  CHECK(std::isnan(rows.at("t/long").score));

  CHECK(run_command(eval(model, 1, task.string(), out, "--overwrite --long-prompt truncate-left"))
            .exit_code == 0);
  rows = rows_by_id(out);
  CHECK(rows.at("t/long").status == RequestStatus::truncated);
  CHECK(rows.at("t/long").generated_tokens > 0);
  CHECK_THAT(rows.at("t/long").error, Contains("cut from"));

  // --context-length is honoured: the 48-token prompt no longer fits 40.
  CHECK(run_command(eval(model, 1, task.string(), out, "--overwrite --context-length 40"))
            .exit_code == 0);
  rows = rows_by_id(out);
  CHECK(rows.at("t/fine").status == RequestStatus::ok);
  CHECK(rows.at("t/mid").status == RequestStatus::failed);
  CHECK_THAT(rows.at("t/mid").error, Contains("the context 40"));
  // ... or refused, never ignored.
  const CommandResult too_long =
      run_command(eval(model, 1, task.string(), out, "--overwrite --context-length 1000"));
  CHECK(too_long.exit_code == 1);
  CHECK_THAT(too_long.output, Contains("--context-length"));
}

TEST_CASE("non-finite log-likelihoods fail their requests, not the run", "[cli][eval][bad-input]") {
  TempDir temp("eval-nan");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  // NaN in the head's weights: every logit, so every log-likelihood, is NaN.
  std::vector<RawTensor> tensors = read_raw_tensors(model / "model.safetensors");
  for (RawTensor& tensor : tensors) {
    if (tensor.name != "lm_head.weight") continue;
    const float nan = std::nanf("");
    for (std::size_t at = 0; at + sizeof nan <= tensor.bytes.size(); at += sizeof nan) {
      std::memcpy(tensor.bytes.data() + at, &nan, sizeof nan);
    }
  }
  write_safetensors(model / "model.safetensors", tensors);
  write_text(temp.path() / "mc.jsonl",
             "{\"id\": \"a\", \"question\": \"sky?\", \"choices\": [\"blue\", \"red\"], "
             "\"label\": 0}\n{\"id\": \"b\", \"question\": \"sea?\", \"choices\": [\"wet\", "
             "\"dry\"], \"label\": 0}\n");
  write_text(temp.path() / "mc.yaml",
             "name: mc\ncategory: reasoning\ndataset: mc.jsonl\nprompt: \"Q: {question}\\nA:\"\n"
             "scorer:\n  type: multiple_choice\n");
  const auto out = temp.path() / "run.h5";
  const CommandResult run =
      run_command(eval(model, 1, (temp.path() / "mc.yaml").string(), out, ""));
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  for (const auto& [id, row] : rows_by_id(out)) {
    CHECK(row.status == RequestStatus::failed);
    CHECK_THAT(row.error, Contains("non-finite log-likelihood"));
  }
}

TEST_CASE("duplicate request ids are refused before the model loads, naming both lines",
          "[cli][eval][bad-input]") {
  TempDir temp("eval-dup");
  write_questions(temp.path() / "data.jsonl", {"a", "b", "a"});
  write_question_task(temp.path() / "t.yaml", "t", "data.jsonl");
  const CommandResult run =
      run_command(eval(fixtures_dir() / "llama_gqa_f32", 1, (temp.path() / "t.yaml").string(),
                       temp.path() / "run.h5", ""));
  CHECK(run.exit_code == 1);
  CHECK_THAT(run.output, Contains("data.jsonl:3: request id 't/a' is already the id of line 1"));
}

TEST_CASE("a stop request on one rank ends the run with every finished row; resume finishes it",
          "[cli][eval][preemption]") {
  TempDir temp("eval-stop");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::string task = numbered_task(temp.path(), 400);
  const std::string slow = "--max-batch-sequences 1 --batches-per-round 1";

  const auto reference = temp.path() / "reference.h5";
  REQUIRE(run_command(eval(model, 2, task, reference, slow)).exit_code == 0);

  for (const int signal : {SIGTERM, SIGUSR1}) {
    INFO("signal " << signal);
    const auto out = temp.path() / ("stopped-" + std::to_string(signal) + ".h5");
    Spawned run(eval(model, 2, task, out, slow));
    REQUIRE(run.wait_for("t 20/400", std::chrono::seconds(60)));
    const pid_t rank1 = find_rank_pid(out.string(), 1);
    REQUIRE(rank1 > 0);
    ::kill(rank1, signal);  // one rank only: the other learns it at the round's end
    const CommandResult stopped = run.finish(std::chrono::seconds(60));
    INFO(stopped.output);
    CHECK(stopped.exit_code == kInterruptedExitCode);
    CHECK_THAT(stopped.output, Contains("interrupted") && Contains("--resume"));
    {
      const ResultsReader reader(out);
      const auto sessions = reader.sessions();
      REQUIRE(sessions.size() == 1);
      CHECK(sessions[0].ending.find("interrupted") == 0);
      CHECK(reader.metadata().end_time.empty());
      CHECK(reader.rows() < 400);
    }
    const CommandResult resumed = run_command(eval(model, 2, task, out, slow + " --auto-resume"));
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    check_same_results(rows_by_id(out), rows_by_id(reference));
  }
}

TEST_CASE("chaos: killed and signalled at random points, resumed until done, the same results",
          "[cli][eval][chaos]") {
  TempDir temp("eval-chaos");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  // Ids that are suffixes and prefixes of each other, in two tasks whose names are too.
  std::vector<std::string> ids;
  for (int i = 0; i < 3000; ++i) {
    ids.push_back(std::to_string(i));
    if (i % 3 == 0) ids.push_back("x" + std::to_string(i));
    if (i % 5 == 0) ids.push_back(std::to_string(i) + "x");
  }
  write_questions(temp.path() / "data.jsonl", ids);
  write_question_task(temp.path() / "gsm.yaml", "gsm", "data.jsonl");
  write_question_task(temp.path() / "agsm.yaml", "agsm", "data.jsonl");
  const std::string tasks =
      (temp.path() / "gsm.yaml").string() + "," + (temp.path() / "agsm.yaml").string();
  const std::string settings = "--max-batch-sequences 1 --batches-per-round 2";
  const std::size_t total = 2 * ids.size();

  const auto reference = temp.path() / "reference.h5";
  REQUIRE(run_command(eval(model, 2, tasks, reference, settings)).exit_code == 0);
  REQUIRE(rows_by_id(reference).size() == total);

  // Runs interrupted at a random point, each resuming the last, until six were interrupted;
  // then one more to the end. A run that finishes before its interruption ends the chaos early
  // (and the check on the count below tells).
  const auto out = temp.path() / "chaos.h5";
  std::mt19937 random(20261201);
  int interruptions = 0;
  bool finished = false;
  for (int attempt = 0; attempt < 30 && interruptions < 6 && !finished; ++attempt) {
    Spawned run(eval(model, 2, tasks, out, settings + " --auto-resume"));
    const int action = static_cast<int>(random() % 5);
    // Somewhere in the run: a random stretch after its first progress line, shorter than the
    // whole run takes on a fast machine (about a second).
    const bool running = run.wait_for(" req/s", std::chrono::seconds(60));
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 500));
    const pid_t rank0 = find_rank_pid(out.string(), 0);
    const pid_t rank1 = find_rank_pid(out.string(), 1);
    switch (action) {
      case 0:
        if (rank0 > 0) ::kill(rank0, SIGKILL);
        break;
      case 1:
        if (rank1 > 0) ::kill(rank1, SIGKILL);
        break;
      case 2:
        if (rank1 > 0) ::kill(rank1, SIGTERM);
        break;
      case 3:
        if (rank0 > 0) ::kill(rank0, SIGUSR1);
        break;
      default:
        run.signal_all(SIGTERM);  // as Slurm's preemption does: every process at once
    }
    const CommandResult result = run.finish(std::chrono::seconds(120));
    INFO("attempt " << attempt << " action " << action << "\n" << result.output);
    CHECK(running);
    finished = result.exit_code == 0;
    if (!finished) ++interruptions;
    // Interrupted or killed, never failed for another reason.
    CHECK(result.output.find("results file") == std::string::npos);
  }
  if (!finished) {
    REQUIRE(run_command(eval(model, 2, tasks, out, settings + " --auto-resume")).exit_code == 0);
  }
  CHECK(interruptions >= 5);
  check_same_results(rows_by_id(out), rows_by_id(reference));
  CHECK(ResultsReader(out).sessions().size() >= 2);
}

TEST_CASE("a rank that is stopped or killed ends the job within the stall limit, named",
          "[cli][eval][watchdog]") {
  TempDir temp("eval-stall");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::string task = numbered_task(temp.path(), 30000);
  for (const int signal : {SIGSTOP, SIGKILL}) {
    INFO("rank 1 gets signal " << signal);
    const auto out = temp.path() / ("stall-" + std::to_string(signal) + ".h5");
    Spawned run(
        eval(model, 2, task, out, "--stall-limit 3 --max-batch-sequences 1 --batches-per-round 1"));
    REQUIRE(run.wait_for("t 10/30000", std::chrono::seconds(60)));
    const pid_t rank1 = find_rank_pid(out.string(), 1);
    REQUIRE(rank1 > 0);
    const auto start = std::chrono::steady_clock::now();
    ::kill(rank1, signal);
    const CommandResult ended = run.finish(std::chrono::seconds(60));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(ended.output);
    CHECK(ended.exit_code != 0);
    CHECK(seconds < 3 + 30);
    if (signal == SIGSTOP) {
      // Rank 0 says what it was waiting for, and on whom.
      CHECK_THAT(ended.output, Contains("rank 0") && Contains("no progress for") &&
                                   Contains("ranks 0-1") && Contains("--stall-limit"));
    }
    // The launcher may return a moment before the last rank is gone and lets the file go.
    for (int wait = 0; wait < 100 && held_by_another_process(out); ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(ResultsReader(out).rows() > 0);  // what was flushed is kept
  }
}
