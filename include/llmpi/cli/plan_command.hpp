#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "llmpi/config/preset.hpp"

namespace llmpi {

struct PlanArgs {
  std::string preset;  // a path, or NAME for presets/NAME.yaml
  int gpus_per_node = 0;
  double gpu_mem_gib = 0.0;
  int nodes = 0;                // 0: the fewest nodes that hold the model
  std::string format = "text";  // text | json (what job generators read: jobs/sweep.sh)
  PresetOverrides overrides;
};

// `llmpi plan --preset P --gpus-per-node N --gpu-mem-gib M [--nodes K] [--tp T --pp P]`:
// parameters, weight and KV-cache bytes per rank, the tokens that fit and the smallest valid
// layout; an explicit --tp/--pp is checked and refused with the valid alternatives.
CLI::App& add_plan_command(CLI::App& app, PlanArgs& args);
int run_plan(const PlanArgs& args);

// The report run_plan prints (a refused layout throws instead).
std::string plan_report(const PlanArgs& args);

}  // namespace llmpi
