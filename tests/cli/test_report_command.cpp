// Telemetry from `llmpi eval` to `llmpi report`, on the tiny random model: every rank's GPU
// readings (from a stand-in NVML with scripted values) and host readings in /telemetry, the
// time breakdown per rank, a run without NVML saying so once, and reports of one run, of two
// runs side by side (text, CSV, JSON) and of a version-1 file.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "command.hpp"
#include "llmpi/results/results_file.hpp"
#include "reference_fixture.hpp"
#include "tiny_eval_model.hpp"

using namespace llmpi;
using namespace llmpi::testing;
using Catch::Matchers::Contains;

namespace {

std::string questions_task(const std::filesystem::path& dir, int count) {
  write_questions(dir / "data.jsonl", numbered_ids(count));
  write_question_task(dir / "t.yaml", "t", "data.jsonl",
                      "  max_new_tokens: 8\n  temperature: 0.8\n",
                      "  type: exact_match\n  extract: none\n");
  return (dir / "t.yaml").string();
}

CommandResult eval(const std::string& environment, const std::filesystem::path& model,
                   const std::string& task, const std::filesystem::path& out,
                   const std::string& extra) {
  return run_command("timeout 120 " + mpiexec(2, environment) + LLMPI_BINARY " eval --model " +
                     model.string() + " --tasks " + task + " --out " + out.string() +
                     " --overwrite --max-batch-sequences 2 " + extra);
}

}  // namespace

TEST_CASE("every rank's GPU and host readings and time breakdown reach the results file",
          "[cli][telemetry]") {
  TempDir temp("telemetry");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::string task = questions_task(temp.path(), 200);
  const auto out = temp.path() / "fake-nvml.h5";
  // Both ranks read the stand-in's GPU 0 (a CPU run names the GPU with --telemetry-device).
  const CommandResult run = eval("LLMPI_NVML_LIBRARY=" LLMPI_FAKE_NVML, model, task, out,
                                 "--telemetry-device 0 --telemetry-interval 0.01");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const ResultsReader reader(out);
  CHECK(reader.schema_version() == kResultsSchemaVersion);
  const auto sources = reader.telemetry_sources();
  REQUIRE(sources.size() == 2);
  for (const TelemetrySource& source : sources) {
    CHECK(source.gpu == "Fake GPU 0");
    CHECK(source.note.empty());
    CHECK(source.planned_bytes > 0);
    CHECK(source.interval_s == Approx(0.01));
  }
  const auto samples = reader.telemetry_samples();
  int per_rank[2] = {0, 0};
  for (const TelemetrySample& s : samples) {
    REQUIRE((s.rank == 0 || s.rank == 1));
    ++per_rank[s.rank];
    CHECK(s.gpu_memory_total_bytes == 80.0 * (1ull << 30));
    CHECK(s.gpu_temperature_c == 40);
    CHECK(s.gpu_power_w == 200);
    CHECK(s.host_rss_bytes > 0);
    CHECK(s.phase_s.size() == 8);
  }
  CHECK(per_rank[0] >= 2);
  CHECK(per_rank[1] >= 2);

  const CommandResult report = run_command(LLMPI_BINARY " report " + out.string());
  INFO(report.output);
  CHECK(report.exit_code == 0);
  CHECK_THAT(report.output, Contains("Fake GPU 0") && Contains("seconds per rank") &&
                                Contains("loading") && Contains("decode") && Contains("waiting"));
}

TEST_CASE("without NVML the run completes, says so once, and writes the host readings",
          "[cli][telemetry][bad-input]") {
  TempDir temp("telemetry-none");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::string task = questions_task(temp.path(), 20);
  const auto out = temp.path() / "no-nvml.h5";
  const CommandResult run = eval("LLMPI_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1", model, task,
                                 out, "--telemetry-device 0");
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  // One line for both ranks.
  const std::string once = "telemetry: 2 rank(s): NVML not loaded";
  const std::size_t said = run.output.find(once);
  REQUIRE(said != std::string::npos);
  CHECK(run.output.find("telemetry:", said + once.size()) == std::string::npos);
  const ResultsReader reader(out);
  for (const TelemetrySource& source : reader.telemetry_sources()) {
    CHECK_THAT(source.note, Contains("NVML not loaded"));
  }
  for (const TelemetrySample& s : reader.telemetry_samples()) {
    CHECK(std::isnan(s.gpu_memory_used_bytes));
    CHECK(s.host_rss_bytes > 0);
  }
}

TEST_CASE("two runs side by side: scores with standard errors and their paired difference",
          "[cli][report]") {
  TempDir temp("report-two");
  const auto model = write_tiny_eval_model(temp.path() / "model");
  const std::string task = questions_task(temp.path(), 60);
  const auto first = temp.path() / "seed-1.h5";
  const auto second = temp.path() / "seed-2.h5";
  REQUIRE(eval("", model, task, first, "").exit_code == 0);
  // Another sampling seed: other texts on the same requests.
  std::string reseeded = read_text(temp.path() / "t.yaml");
  reseeded.replace(reseeded.find("temperature: 0.8"), 16, "temperature: 0.8\n  seed: 99");
  write_text(temp.path() / "t2.yaml", reseeded);
  REQUIRE(eval("", model, (temp.path() / "t2.yaml").string(), second, "").exit_code == 0);

  const CommandResult text =
      run_command(LLMPI_BINARY " report " + first.string() + " " + second.string());
  INFO(text.output);
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.output, Contains("[1] " + first.string()) && Contains("[2] " + second.string()) &&
                              Contains("[2]-[1] 95% CI") && Contains("n=60") &&
                              Contains("category math") && Contains("peak memory GiB"));

  const CommandResult json =
      run_command(LLMPI_BINARY " report --format json " + first.string() + " " + second.string());
  REQUIRE(json.exit_code == 0);
  const auto parsed = nlohmann::json::parse(json.output);
  REQUIRE(parsed.at("runs").size() == 2);
  CHECK(parsed.at("runs")[0].at("tasks")[0].at("requests") == 60);
  CHECK(parsed.at("comparisons")[0].at("tasks")[0].at("pairs") == 60);

  const CommandResult csv =
      run_command(LLMPI_BINARY " report --format csv " + first.string() + " " + second.string());
  REQUIRE(csv.exit_code == 0);
  CHECK_THAT(csv.output, Contains("run,file,kind,name,category,requests,scored,score,stderr,"
                                  "difference,ci_low,ci_high,pairs") &&
                             Contains("seed-2,") && Contains(",task,t,math,60,60,"));
}

TEST_CASE("a version-1 results file is still reported", "[cli][report]") {
  const CommandResult report =
      run_command(LLMPI_BINARY " report " + (fixtures_dir() / "results" / "schema1.h5").string());
  INFO(report.output);
  CHECK(report.exit_code == 0);
  CHECK_THAT(report.output,
             Contains("results schema 1") && Contains("tiny-llama-gqa") && Contains("math"));
}
