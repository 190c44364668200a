#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "llmpi/backend/backend.hpp"
#include "llmpi/config/preset.hpp"
#include "llmpi/dist/topology.hpp"
#include "llmpi/dist/watchdog.hpp"
#include "llmpi/model/transformer.hpp"
#include "llmpi/monitor/telemetry_sampler.hpp"

namespace llmpi {

class CudaBackend;

// How a command picks its model: a preset and/or a checkpoint, the backend, and overrides.
struct ModelOptions {
  std::string preset;     // name or path; the model and its layout from presets/
  std::string model_dir;  // the checkpoint (overrides the preset's)
  std::string backend = "cpu";
  int device = -1;  // -1: the rank's local rank on its node
  // How the CUDA backend's TP and PP groups move device tensors: "nccl", or "mpi" (host-staged,
  // for several ranks on one GPU, which NCCL refuses).
  std::string device_comm = "nccl";
  PresetOverrides overrides;
};

void add_model_options(CLI::App& command, ModelOptions& options);

// The checkpoint directory the options name (--model, else the preset's).
std::string checkpoint_dir(const ModelOptions& options);

// Everything one rank needs to run its part of the model, set up collectively on every rank:
// preset and overrides, layout validated before any weight is read, topology (rank map
// printed by rank 0), backend, the planner's fit check for `context_tokens`, then this rank's
// shard of the weights.
class ModelSession {
 public:
  // context_tokens: the longest sequence to plan for; 0: the preset's context_length.
  ModelSession(const ModelOptions& options, std::int64_t context_tokens);

  bool leader() const { return topology_->world_rank() == 0; }
  Topology& topology() { return *topology_; }
  const Preset& preset() const { return preset_; }
  const std::string& model_dir() const { return model_dir_; }
  Transformer& model() { return *model_; }
  Backend& backend() { return *backend_; }
  // KV-cache tokens every rank of the job can hold (the planner's tokens_fit, smallest rank).
  std::int64_t kv_token_budget() const { return kv_token_budget_; }
  // The planner's estimate of this rank's memory: weights, activations, workspace and its KV
  // budget (GPU memory, or the host's share on the CPU backend).
  std::int64_t planned_bytes() const { return planned_bytes_; }
  // The GPU this rank computes on, for telemetry: none on the CPU backend.
  GpuChoice gpu() const;

 private:
  // The TP and PP groups' device communicators, as options.device_comm says (CUDA builds).
  void connect_device_groups(const ModelOptions& options, CudaBackend& cuda);

  Preset preset_;
  std::string model_dir_;
  std::int64_t kv_token_budget_ = 0;
  std::int64_t planned_bytes_ = 0;
  std::unique_ptr<Watchdog> watchdog_;  // before the first wait on other ranks
  std::unique_ptr<Topology> topology_;
  std::unique_ptr<Backend> backend_;
  // The CUDA backend's communicators (NCCL, or host-staged MPI); the CPU backend uses the
  // topology's MPI ones.
  std::unique_ptr<Comm> device_tp_, device_pp_;
  std::unique_ptr<Transformer> model_;
};

}  // namespace llmpi
