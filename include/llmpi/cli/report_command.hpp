#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace llmpi {

struct ReportArgs {
  std::vector<std::string> results;  // one file, or several side by side
  std::string plot;                  // PNG path; drawn by scripts/plot_results.py (matplotlib)
  std::string format = "text";       // text | csv | json
};

// `llmpi report run.h5 [more.h5 ...]`: one run's metadata, scores with standard errors, failed
// requests, per-rank telemetry and time breakdown; several runs side by side with the paired
// difference of each against the first on the requests they share. Exits non-zero when a file
// cannot be read fully.
CLI::App& add_report_command(CLI::App& app, ReportArgs& args);
int run_report(const ReportArgs& args);

}  // namespace llmpi
