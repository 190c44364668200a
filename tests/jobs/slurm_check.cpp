// The shipped Slurm jobs (jobs/*.slurm through jobs/srun_llmpi.sh) on a local two-node Slurm
// (scripts/slurm_local.sh), with the tiny-falcon-gqa preset over 2 nodes x 2 ranks:
//  1. a job given its time-limit warning (SIGUSR1 to its steps) stops with every finished row,
//     requeues itself and, resumed, ends with every request exactly once, as a run that was
//     never stopped;
//  2. a job one of whose ranks is stopped (SIGSTOP) ends within its stall limit plus 30 s, the
//     message naming what the others waited for;
//  3. jobs/sweep.sh over three tiny presets: a job per preset sized from its plan, three results
//     files, and one side-by-side report.
// Exit 77 (skipped) where Slurm is not installed; 1 on a failed check.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "checkpoint_writer.hpp"
#include "command.hpp"
#include "llmpi/results/results_file.hpp"
#include "process.hpp"
#include "reference_fixture.hpp"
#include "tiny_eval_model.hpp"

using namespace llmpi;
using namespace llmpi::testing;
namespace fs = std::filesystem;

namespace {

int failures = 0;
void expect(bool condition, const std::string& what) {
  std::printf("%s: %s\n", condition ? "ok" : "FAIL", what.c_str());
  if (!condition) ++failures;
}

std::string slurm_state(const std::string& job) {
  const CommandResult show = run_command("scontrol show job " + job);
  const std::size_t at = show.output.find("JobState=");
  if (at == std::string::npos) return "";
  return show.output.substr(at + 9, show.output.find(' ', at) - at - 9);
}

// Waits until `predicate` holds, checking every half second; false after `seconds`.
template <typename Predicate>
bool wait_until(Predicate predicate, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return predicate();
}

bool contains(const fs::path& file, const std::string& text) {
  return fs::exists(file) && read_text(file).find(text) != std::string::npos;
}

std::string submit(const fs::path& log, const std::string& args) {
  const CommandResult job = run_command("sbatch --parsable --output=" + log.string() +
                                        " jobs/tiny-cpu.slurm eval " + args);
  std::string id = job.output.substr(0, job.output.find_first_of(";\n"));
  if (job.exit_code != 0 || id.empty()) {
    std::printf("sbatch failed: %s\n", job.output.c_str());
    std::exit(1);
  }
  return id;
}

std::map<std::string, std::string> texts_by_id(const fs::path& file) {
  std::map<std::string, std::string> texts;
  for (const RequestResult& row : ResultsReader(file).requests()) {
    if (!texts.emplace(row.id, row.generated_text).second) texts[row.id] = "(twice)";
  }
  return texts;
}

void write_task(const fs::path& dir, int requests) {
  write_questions(dir / "data.jsonl", numbered_ids(requests));
  write_question_task(dir / "t.yaml", "t", "data.jsonl");
}

}  // namespace

int main() {
  if (run_command("command -v sbatch && command -v slurmctld && command -v munged").exit_code !=
      0) {
    std::printf("SKIP: Slurm is not installed (apt-get install slurm-wlm munge)\n");
    return 77;
  }
  const fs::path repo = LLMPI_SOURCE_DIR;
  fs::current_path(repo);
  const CommandResult started = run_command("bash scripts/slurm_local.sh start");
  const std::size_t conf = started.output.find("export SLURM_CONF=");
  if (started.exit_code != 0 || conf == std::string::npos) {
    std::printf("local Slurm did not start:\n%s\n", started.output.c_str());
    return 1;
  }
  const std::string conf_path =
      started.output.substr(conf + 18, started.output.find('\n', conf) - conf - 18);
  ::setenv("SLURM_CONF", conf_path.c_str(), 1);
  // Both simulated nodes share this machine's /dev/shm, where Open MPI's shared-memory
  // transport would clash: TCP between all ranks.
  ::setenv("OMPI_MCA_btl", "self,tcp", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  ::setenv("LLMPI", LLMPI_BINARY, 1);

  TempDir temp("slurm-jobs");
  const fs::path model = write_tiny_eval_model(temp.path() / "model", "falcon_gqa_bf16_sharded");
  const int requests = 120;
  write_task(temp.path(), requests);
  const std::string common = "--model " + model.string() + " --tasks " +
                             (temp.path() / "t.yaml").string() +
                             " --max-batch-sequences 1 --batches-per-round 1 --progress-interval 0";

  // The same evaluation never interrupted, under mpirun on the same layout.
  const fs::path reference = temp.path() / "reference.h5";
  const CommandResult direct = run_command(
      "env OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=1 " LLMPI_MPIEXEC " -n 4 " +
      std::string(LLMPI_BINARY) + " eval --preset tiny-falcon-gqa --tp 2 --pp 2 " + common +
      " --out " + reference.string());
  expect(direct.exit_code == 0, "the uninterrupted reference run under mpirun");

  // 1. Time-limit warning, requeue, resume.
  {
    const fs::path out = temp.path() / "requeued.h5";
    const fs::path log = temp.path() / "requeued.log";
    const std::string job = submit(log, common + " --out " + out.string());
    const bool started_writing =
        wait_until([&] { return contains(log, "t 10/" + std::to_string(requests)); }, 120);
    expect(started_writing, "job " + job + " writes its first rows");
    run_command("scancel --signal=USR1 " + job);  // as --signal=USR1@N does before the limit
    const bool requeued = wait_until([&] { return contains(log, "requeueing job " + job); }, 60);
    expect(requeued, "the stopped job requeues itself");
    // A requeued job waits for its begin time (two minutes); the test waits only until both
    // nodes have cleaned up after its first run.
    wait_until([&] { return slurm_state(job) == "PENDING"; }, 30);
    wait_until(
        [] {
          const std::string states = run_command("sinfo -h -N -o %T").output;
          return states.find("idle") != std::string::npos &&
                 states.find_first_not_of("idle\n") == std::string::npos;
        },
        60);
    std::this_thread::sleep_for(std::chrono::seconds(30));
    run_command("scontrol update JobId=" + job + " StartTime=now");
    const bool completed = wait_until([&] { return slurm_state(job) == "COMPLETED"; }, 300);
    expect(completed, "the requeued job completes (state " + slurm_state(job) + ")");
    if (completed) {
      const auto got = texts_by_id(out);
      const auto want = texts_by_id(reference);
      expect(got.size() == static_cast<std::size_t>(requests), "every request is in the file");
      expect(got == want, "every request exactly once, with the uninterrupted run's texts");
      const auto sessions = ResultsReader(out).sessions();
      expect(sessions.size() == 2 && sessions[0].ending == "interrupted by SIGUSR1" &&
                 sessions[1].ending == "finished",
             "two sessions: interrupted by SIGUSR1, then finished");
      expect(contains(log, "resuming " + out.string()), "the second run resumed the file");
    }
    if (failures > 0) std::printf("job log:\n%s\n", read_text(log).c_str());
    run_command("scancel " + job);
  }

  // 2. A stopped rank ends the job within the stall limit.
  {
    write_task(temp.path(), 20000);
    const fs::path out = temp.path() / "stalled.h5";
    const fs::path log = temp.path() / "stalled.log";
    const std::string job = submit(log, common + " --stall-limit 5 --out " + out.string());
    const bool running = wait_until([&] { return contains(log, "t 10/20000"); }, 120);
    expect(running, "job " + job + " runs");
    const pid_t rank3 = find_rank_pid(out.string(), 3);
    expect(rank3 > 0, "rank 3's process is found");
    const auto start = std::chrono::steady_clock::now();
    if (rank3 > 0) ::kill(rank3, SIGSTOP);
    const bool ended = wait_until(
        [&] {
          const std::string state = slurm_state(job);
          return state != "RUNNING" && state != "PENDING" && state != "COMPLETING";
        },
        5 + 30);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    expect(ended, "the job ended " + std::to_string(seconds) + " s after rank 3 was stopped (" +
                      slurm_state(job) + ")");
    expect(contains(log, "no progress for") && contains(log, "--stall-limit"),
           "a rank says what it waited for");
    if (rank3 > 0) ::kill(rank3, SIGKILL);
    run_command("scancel " + job);
  }
  // 3. A sweep over three models: a job per preset sized from its plan, then one report.
  {
    write_task(temp.path(), 30);
    std::string presets;
    for (const auto& [preset, fixture] :
         {std::pair<std::string, std::string>{"tiny-llama-gqa", "llama_gqa_f32"},
          {"tiny-llama-tied", "llama_tied_f16"},
          {"tiny-falcon-gqa", "falcon_gqa_bf16_sharded"}}) {
      // The shipped preset, its checkpoint the fixture with a tokenizer.
      const fs::path preset_model =
          write_tiny_eval_model(temp.path() / ("sweep-" + preset), fixture);
      std::string text = read_text(repo / "presets" / (preset + ".yaml"));
      const std::size_t at = text.find("checkpoint:");
      text.replace(at, text.find('\n', at) - at, "checkpoint: " + preset_model.string());
      const fs::path file = temp.path() / (preset + ".yaml");
      write_text(file, text);
      presets += (presets.empty() ? "" : ",") + file.string();
    }
    const fs::path out_dir = temp.path() / "sweep";
    const CommandResult sweep = run_command(
        "bash jobs/sweep.sh --cpu --gpus-per-node 2 --gpu-mem-gib 2 --time 00:10:00 --tasks " +
        (temp.path() / "t.yaml").string() + " --out-dir " + out_dir.string() + " --presets " +
        presets + " -- --progress-interval 0");
    std::printf("%s", sweep.output.c_str());
    expect(sweep.exit_code == 0, "jobs/sweep.sh submits the jobs");
    const bool reported = wait_until(
        [&] {
          return fs::exists(out_dir / "report.json") && fs::file_size(out_dir / "report.json") > 0;
        },
        300);
    expect(reported, "the report job writes report.txt, .csv and .json");
    if (reported) {
      const auto report = nlohmann::json::parse(read_text(out_dir / "report.json"));
      expect(report.at("runs").size() == 3, "the report has the three models");
      bool complete = true;
      for (const auto& run : report.at("runs")) {
        complete = complete && run.at("requests") == 30 && run.at("finished") == true;
      }
      expect(complete, "each model's run finished its 30 requests");
      expect(report.at("comparisons").size() == 2, "two models compared with the first");
      expect(contains(out_dir / "report.txt", "[3]"), "report.txt shows them side by side");
    }
  }
  run_command("bash scripts/slurm_local.sh stop");
  std::printf("%s\n", failures == 0 ? "all Slurm checks passed" : "Slurm checks FAILED");
  return failures == 0 ? 0 : 1;
}
