#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/config/planner.hpp"
#include "llmpi/core/dtype.hpp"

namespace llmpi {

// Limits of the engine's running batch.
struct BatchLimits {
  int max_sequences = 64;  // sequences decoded together
  int max_tokens = 4096;   // tokens in one engine step (prefill chunks plus decodes)
};

// How much of each GPU llmpi may use.
struct MemoryLimits {
  double gpu_fraction = 0.90;  // of the GPU's memory; the rest is left to the driver and others
  double reserve_gib = 1.0;    // fixed workspace (cuBLAS, NCCL, attention) kept out of the KV cache
};

// One presets/*.yaml file: the model, how to run it, and the file itself (docs/presets.md).
struct Preset {
  std::string name;
  std::string description;
  std::string source;     // path of the preset file, for messages
  std::string yaml_text;  // the file verbatim, recorded with the results
  ModelConfig model;
  std::string
      checkpoint;  // Hugging Face directory, resolved against the preset's folder; may be empty
  DType dtype = DType::bf16;  // weights and KV cache on the GPU
  ParallelLayout layout;      // tp and pp; dp only where dp_fixed
  bool dp_fixed = false;      // otherwise dp = world / (tp x pp) at launch
  int context_length = 0;     // longest sequence, prompt plus generation
  BatchLimits batch;
  MemoryLimits memory;
  // How long a rank may wait on the others in one step before the job is aborted as stuck
  // (dist/watchdog.hpp); 0: never. Well above the slowest step expected at this model's size.
  int stall_limit_s = 600;
};

// Reads and validates a preset file. Every message names the file, the line and the key.
Preset load_preset(const std::filesystem::path& path);
// The same from text; `source` names it in messages and anchors a relative checkpoint path.
Preset parse_preset(const std::string& yaml_text, const std::string& source);

// The preset of a bare checkpoint (`--model DIR` without `--preset`): its config.json and the
// defaults of every other key.
Preset preset_from_checkpoint(const ModelConfig& model, const std::string& checkpoint);

// A preset path as given on the command line: an existing file, or NAME for presets/NAME.yaml
// in the working directory.
std::filesystem::path resolve_preset_path(const std::string& path_or_name);

// Command-line values that replace the preset's; each is validated as the YAML key would be and
// a refusal names the flag.
struct PresetOverrides {
  std::optional<std::string> checkpoint;
  std::optional<std::string> dtype;
  std::optional<int> tp, pp, dp;
  std::optional<int> context_length;
  std::optional<int> max_batch_sequences, max_batch_tokens;
  std::optional<double> gpu_memory_fraction;
  std::optional<int> stall_limit_s;
};
void apply_overrides(Preset& preset, const PresetOverrides& overrides);

// Refuses a checkpoint whose config.json differs from the preset's `model:` in any field that
// shapes the weights or the computation, naming the field and both values.
void check_checkpoint_matches(const Preset& preset, const ModelConfig& checkpoint_config);

// The world layout of a launch with `world_size` ranks: dp from the preset, or the rest.
ParallelLayout layout_for_world(const Preset& preset, int world_size);

// What the planner needs from a preset.
PlanSettings plan_settings(const Preset& preset);

// "bf16", "fp16", "fp32": the spellings of the `dtype` key.
std::string preset_dtype_name(DType dtype);

}  // namespace llmpi
