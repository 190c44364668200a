#include "llmpi/cli/report_command.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "llmpi/core/error.hpp"
#include "llmpi/results/results_file.hpp"
#include "llmpi/results/summary.hpp"

namespace llmpi {

CLI::App& add_report_command(CLI::App& app, ReportArgs& args) {
  CLI::App* command = app.add_subcommand("report", "Summarise a results file");
  command->add_option("results", args.results, "Results file (HDF5) of llmpi eval")->required();
  command->add_option("--plot", args.plot,
                      "Also draw scores per category and latencies to this PNG "
                      "(scripts/plot_results.py, needs matplotlib and h5py)");
  return *command;
}

namespace {

void print_sessions(const std::vector<RunSession>& sessions) {
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    const RunSession& s = sessions[i];
    const std::string ending =
        !s.ending.empty() ? s.ending : (s.end_time.empty() ? "killed (no end recorded)" : "");
    std::printf("session %zu: from row %lld, %s to %s%s%s\n", i + 1,
                static_cast<long long>(s.first_row), s.start_time.c_str(),
                s.end_time.empty() ? "?" : s.end_time.c_str(), ending.empty() ? "" : ": ",
                ending.c_str());
  }
}

void print_tasks(const std::vector<TaskSummary>& tasks) {
  std::printf("\n%-16s %-10s %8s %8s %8s %8s %10s %10s %10s\n", "task", "category", "requests",
              "failed", "skipped", "score", "p50 lat s", "p95 lat s", "ttft s");
  for (const TaskSummary& t : tasks) {
    std::printf("%-16s %-10s %8lld %8lld %8lld %8.3f %10.2f %10.2f %10.2f\n", t.task.c_str(),
                t.category.c_str(), static_cast<long long>(t.requests),
                static_cast<long long>(t.failed), static_cast<long long>(t.skipped), t.mean_score,
                t.p50_latency_s, t.p95_latency_s, t.mean_ttft_s);
  }
}

void print_categories(const std::vector<CategorySummary>& categories) {
  std::printf("\n%-16s %8s %8s %8s %8s\n", "category", "tasks", "requests", "failed", "score");
  for (const CategorySummary& c : categories) {
    std::printf("%-16s %8lld %8lld %8lld %8.3f\n", c.category.c_str(),
                static_cast<long long>(c.tasks), static_cast<long long>(c.requests),
                static_cast<long long>(c.failed + c.skipped), c.mean_score);
  }
}

// The requests that failed or were skipped or truncated, each with its reason: reported apart
// from the scores, a few per task.
void print_problems(const std::vector<RequestResult>& rows) {
  constexpr int kPerTask = 5;
  std::map<std::string, int> shown;
  bool header = false;
  for (const RequestResult& row : rows) {
    if (row.status == RequestStatus::ok) continue;
    if (!header) {
      std::printf("\nrequests not scored as run (failed: counted as the task's policy says; "
                  "skipped: not scored; truncated: scored on a shortened prompt):\n");
      header = true;
    }
    if (++shown[row.task] > kPerTask) continue;
    std::printf("  %-24s %-9s %s\n", row.id.c_str(), status_name(row.status).c_str(),
                row.error.c_str());
  }
  for (const auto& [task, count] : shown) {
    if (count > kPerTask) std::printf("  ... %s: %d more\n", task.c_str(), count - kPerTask);
  }
}

}  // namespace

int run_report(const ReportArgs& args) {
  // Every row is read (text included) so a file that cannot be read fully fails here, with a
  // non-zero exit, rather than printing a partial table.
  const ResultsReader reader(args.results);
  const RunMetadata& run = reader.metadata();
  const std::vector<RequestResult> rows = reader.requests();
  std::printf("run: preset %s, backend %s, %d ranks (tp %d pp %d dp %d) on %d node(s)\n",
              run.preset_name.c_str(), run.backend.c_str(), run.world_size, run.tp, run.pp, run.dp,
              run.nodes);
  std::printf("started %s, ended %s, %zu requests (results schema %lld)\n", run.start_time.c_str(),
              run.end_time.empty() ? "(not finished)" : run.end_time.c_str(), rows.size(),
              static_cast<long long>(reader.schema_version()));
  print_sessions(reader.sessions());
  // The tables from the rows themselves: a run stopped early is reported as far as it got.
  const std::vector<TaskSummary> tasks = summarise_tasks(rows);
  print_tasks(tasks);
  print_categories(summarise_categories(tasks));
  print_problems(rows);
  if (const auto stats = reader.run_stats(); stats && !run.end_time.empty()) {
    std::printf(
        "\nthroughput: %.2f requests/s, %.1f prompt tokens/s, %.1f generated tokens/s; "
        "latency mean %.2f s, p95 %.2f s\n",
        stats->requests_per_s, stats->prompt_tokens_per_s, stats->generated_tokens_per_s,
        stats->mean_latency_s, stats->p95_latency_s);
  }
  if (!args.plot.empty()) {
    const std::string command =
        "python3 " LLMPI_SCRIPTS_DIR "/plot_results.py '" + args.results + "' '" + args.plot + "'";
    if (std::system(command.c_str()) != 0) {
      throw Error(
          "--plot: scripts/plot_results.py failed (it needs python3 with matplotlib and "
          "h5py)");
    }
    std::printf("plot: %s\n", args.plot.c_str());
  }
  return 0;
}

}  // namespace llmpi
