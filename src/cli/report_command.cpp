#include "llmpi/cli/report_command.hpp"

#include <cstdio>
#include <cstdlib>

#include "llmpi/core/error.hpp"
#include "llmpi/results/results_file.hpp"

namespace llmpi {

CLI::App& add_report_command(CLI::App& app, ReportArgs& args) {
  CLI::App* command = app.add_subcommand("report", "Summarise a results file");
  command->add_option("results", args.results, "Results file (HDF5) of llmpi eval")->required();
  command->add_option("--plot", args.plot,
                      "Also draw scores per category and latencies to this PNG "
                      "(scripts/plot_results.py, needs matplotlib and h5py)");
  return *command;
}

int run_report(const ReportArgs& args) {
  const ResultsReader reader(args.results);
  const RunMetadata& run = reader.metadata();
  std::printf("run: preset %s, backend %s, %d ranks (tp %d pp %d dp %d) on %d node(s)\n",
              run.preset_name.c_str(), run.backend.c_str(), run.world_size, run.tp, run.pp, run.dp,
              run.nodes);
  std::printf("started %s, ended %s, %lld requests\n", run.start_time.c_str(),
              run.end_time.empty() ? "(not finished)" : run.end_time.c_str(),
              static_cast<long long>(reader.rows()));
  std::printf("\n%-16s %-10s %8s %8s %10s %10s %10s\n", "task", "category", "requests", "score",
              "p50 lat s", "p95 lat s", "ttft s");
  for (const TaskSummary& t : reader.task_summaries()) {
    std::printf("%-16s %-10s %8lld %8.3f %10.2f %10.2f %10.2f\n", t.task.c_str(),
                t.category.c_str(), static_cast<long long>(t.requests), t.mean_score,
                t.p50_latency_s, t.p95_latency_s, t.mean_ttft_s);
  }
  std::printf("\n%-16s %8s %8s %8s\n", "category", "tasks", "requests", "score");
  for (const CategorySummary& c : reader.category_summaries()) {
    std::printf("%-16s %8lld %8lld %8.3f\n", c.category.c_str(), static_cast<long long>(c.tasks),
                static_cast<long long>(c.requests), c.mean_score);
  }
  if (const auto stats = reader.run_stats()) {
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
