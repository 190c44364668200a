#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace llmpi {

struct ReportArgs {
  std::string results;
  std::string plot;  // PNG path; drawn by scripts/plot_results.py (matplotlib)
};

// `llmpi report run.h5`: the run's metadata and summary table, read from the results file.
CLI::App& add_report_command(CLI::App& app, ReportArgs& args);
int run_report(const ReportArgs& args);

}  // namespace llmpi
