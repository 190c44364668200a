#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "llmpi/cli/model_session.hpp"

namespace llmpi {

struct EvalArgs {
  ModelOptions model;
  std::string tasks;  // comma-separated task files
  std::string out;    // the results file (HDF5)
  bool resume = false;
  bool overwrite = false;
  bool auto_resume = false;  // resume when the file exists, else create it
  bool skip_bad = false;
  int limit = 0;                      // records per task; 0: all
  int batches_per_round = 4;          // a replica's round: this many batches of max_sequences
  std::string long_prompt;            // overrides every task's long_prompt policy when set
  double telemetry_interval_s = 1.0;  // 0: no sampling thread
  int telemetry_device = -1;          // NVML index; -1: the rank's CUDA device, if any
  int progress_interval_s = 30;       // between progress lines in a batch log; 0: every round
  std::string prefix_reuse = "on";    // "on" or "off": KV blocks of shared prompt prefixes
};

// `llmpi eval`: every task's requests shared among the data-parallel replicas, each result
// written by rank 0 to one HDF5 file as the run goes (flushed every round: one group of
// requests per replica, decoded together up to batch.max_sequences). A request that cannot run
// or be scored is a failed row; the run goes on. Returns 0 when every request is done, and
// kInterruptedExitCode when a stop request (SIGTERM, SIGUSR1, SIGINT) ended it early with every
// finished row flushed.
CLI::App& add_eval_command(CLI::App& app, EvalArgs& args);
int run_eval(const EvalArgs& args, const std::string& command_line);

}  // namespace llmpi
