#include "llmpi/cli/model_session.hpp"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "llmpi/cli/backend_choice.hpp"
#include "llmpi/cli/preset_options.hpp"
#include "llmpi/config/planner.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/core/wait_watch.hpp"
#include "llmpi/dist/host_staged_comm.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/model/checkpoint.hpp"
#ifdef LLMPI_HAVE_CUDA
#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/dist/nccl_comm.hpp"
#endif

namespace llmpi {

void add_model_options(CLI::App& command, ModelOptions& options) {
  command.add_option("--preset", options.preset, "Preset name (presets/NAME.yaml) or YAML file");
  command.add_option("--model", options.model_dir,
                     "Hugging Face checkpoint directory (default: the preset's checkpoint)");
  command.add_option("--backend", options.backend, "cpu, or cuda where built with CUDA")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  command.add_option("--device", options.device,
                     "CUDA device index (default: the rank's local rank on its node)");
  command
      .add_option("--device-comm", options.device_comm,
                  "How CUDA ranks exchange activations: nccl, or mpi (through host memory; "
                  "lets several ranks share one GPU, which NCCL refuses)")
      ->check(CLI::IsMember({"nccl", "mpi"}));
  add_preset_override_options(command, options.overrides);
}

std::string checkpoint_dir(const ModelOptions& options) {
  if (!options.model_dir.empty()) return options.model_dir;
  if (options.preset.empty()) throw Error("give --model DIR or --preset NAME");
  const Preset preset = load_preset(resolve_preset_path(options.preset));
  if (preset.checkpoint.empty()) {
    throw Error("preset " + preset.source +
                " names no checkpoint; give it one or pass --model DIR");
  }
  return preset.checkpoint;
}

namespace {

// The rank's backend: its local rank's GPU unless --device says otherwise; on the CPU, the
// ranks sharing a machine share its cores, unless OMP_NUM_THREADS says otherwise.
std::unique_ptr<Backend> rank_backend(const ModelOptions& options, const Topology& topology) {
  int threads = 0;
  if (std::getenv("OMP_NUM_THREADS") == nullptr) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / topology.ranks_on_node());
  }
  return make_backend(options.backend, options.device >= 0 ? options.device : topology.local_rank(),
                      threads);
}

#ifdef LLMPI_HAVE_CUDA
// LLMPI_COMM_TIMEOUT_S: how long communicator start-up, and any one wait for the GPU while
// NCCL is in use, may take before the job fails with a message (default 300 s).
std::chrono::seconds comm_timeout() {
  const char* text = std::getenv("LLMPI_COMM_TIMEOUT_S");
  if (text == nullptr) return std::chrono::seconds(300);
  char* end = nullptr;
  const long seconds = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || seconds < 1) {
    throw Error("LLMPI_COMM_TIMEOUT_S=" + std::string(text) +
                ": expected a whole number of "
                "seconds, at least 1");
  }
  return std::chrono::seconds(seconds);
}

// A rank's GPU: its PCI bus id names the physical device whatever number CUDA_VISIBLE_DEVICES
// gives it, and, with the rank's host, tells which ranks share one.
struct RankGpu {
  int world_rank = 0;
  std::array<char, 32> bus_id = {};
};

// Every member of `comm`'s GPU, in the communicator's order.
std::vector<RankGpu> gather_gpus(MPI_Comm comm, int size, int world_rank, const std::string& bus_id,
                                 const char* what) {
  RankGpu mine;
  mine.world_rank = world_rank;
  bus_id.copy(mine.bus_id.data(), mine.bus_id.size() - 1);
  std::vector<RankGpu> all(static_cast<std::size_t>(size));
  const WaitScope wait(what, world_description());
  mpi_check(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm),
            "MPI_Allgather");
  return all;
}

bool same_gpu(const RankGpu& a, const RankGpu& b, const Topology& topology) {
  const auto& hosts = topology.hosts();
  return hosts.at(static_cast<std::size_t>(a.world_rank)) ==
             hosts.at(static_cast<std::size_t>(b.world_rank)) &&
         a.bus_id == b.bus_id;
}

// NCCL (since 2.5) refuses two ranks of one communicator on one GPU, with a message that does
// not say what to do: say it first, the same on every member.
void check_one_rank_per_gpu(MpiComm& group, const Topology& topology, const std::string& bus_id,
                            const std::string& what) {
  const std::vector<RankGpu> members =
      gather_gpus(group.handle(), group.size(), topology.world_rank(), bus_id,
                  "MPI_Allgather (the GPUs of a group)");
  for (std::size_t i = 0; i < members.size(); ++i) {
    for (std::size_t j = i + 1; j < members.size(); ++j) {
      if (!same_gpu(members[i], members[j], topology)) continue;
      const auto world = static_cast<std::size_t>(members[i].world_rank);
      throw Error(what + ": world ranks " + std::to_string(members[i].world_rank) + " and " +
                  std::to_string(members[j].world_rank) + " both use the GPU at PCI " +
                  members[i].bus_id.data() + " on host " + topology.hosts().at(world) +
                  ", and NCCL refuses two ranks of one communicator on one GPU. Run one rank "
                  "per GPU (leave --device unset), or pass --device-comm mpi to move "
                  "activations through host memory over MPI (slower; for trying layouts on "
                  "one GPU)");
    }
  }
}

// How many ranks of the job compute on this rank's GPU (they split its memory).
int ranks_sharing_gpu(const Topology& topology, const std::string& bus_id) {
  const std::vector<RankGpu> all =
      gather_gpus(MPI_COMM_WORLD, static_cast<int>(topology.hosts().size()), topology.world_rank(),
                  bus_id, "MPI_Allgather (every rank's GPU)");
  const RankGpu& mine = all.at(static_cast<std::size_t>(topology.world_rank()));
  return static_cast<int>(std::count_if(all.begin(), all.end(), [&](const RankGpu& other) {
    return same_gpu(mine, other, topology);
  }));
}
#endif

}  // namespace

GpuChoice ModelSession::gpu() const {
#ifdef LLMPI_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaBackend*>(backend_.get())) {
    return {cuda->pci_bus_id(), cuda->device()};
  }
#endif
  return {};
}

#ifdef LLMPI_HAVE_CUDA
void ModelSession::connect_device_groups(const ModelOptions& options, CudaBackend& cuda) {
  const ParallelLayout& layout = topology_->layout();
  if (layout.tp == 1 && layout.pp == 1) return;
  const auto& c = topology_->coordinates();
  const std::string tp_name = "tensor-parallel group (dp " + std::to_string(c.dp_rank) + ", pp " +
                              std::to_string(c.pp_rank) + ")";
  const std::string pp_name =
      "pipeline chain (dp " + std::to_string(c.dp_rank) + ", tp " + std::to_string(c.tp_rank) + ")";
  if (options.device_comm == "mpi") {
    // Host-staged: a copy to the host per transfer cannot be recorded in a CUDA graph.
    if (cuda.records_repeated() && leader()) {
      std::printf("note: --device-comm mpi launches every op (no CUDA graphs)\n");
    }
    cuda.set_records_repeated(false);
    if (layout.tp > 1) device_tp_ = make_host_staged_comm(topology_->tp(), cuda);
    if (layout.pp > 1) device_pp_ = make_host_staged_comm(topology_->pp(), cuda);
    return;
  }
  // Device tensors move over NCCL. Its start-up comes first, right after the topology, so a
  // rank that never arrives is named rather than waited for; later waits are bounded too.
  const std::chrono::seconds timeout = comm_timeout();
  cuda.set_wait_timeout(timeout);
  if (layout.tp > 1) {
    check_one_rank_per_gpu(topology_->tp(), *topology_, cuda.pci_bus_id(), "NCCL " + tp_name);
    device_tp_ =
        make_nccl_comm(topology_->tp(), cuda, topology_->hosts(), "NCCL " + tp_name, timeout);
  }
  if (layout.pp > 1) {
    check_one_rank_per_gpu(topology_->pp(), *topology_, cuda.pci_bus_id(), "NCCL " + pp_name);
    device_pp_ =
        make_nccl_comm(topology_->pp(), cuda, topology_->hosts(), "NCCL " + pp_name, timeout);
  }
}
#endif

ModelSession::ModelSession(const ModelOptions& options, std::int64_t context_tokens) {
  const PhaseScope loading(Phase::loading);
  int world_size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  const auto load_start = std::chrono::steady_clock::now();
  model_dir_ = checkpoint_dir(options);
  ModelConfig config = load_model_config(model_dir_);
  preset_ = options.preset.empty() ? preset_from_checkpoint(config, model_dir_)
                                   : load_preset(resolve_preset_path(options.preset));
  apply_overrides(preset_, options.overrides);
  if (!options.preset.empty()) check_checkpoint_matches(preset_, config);
  const ParallelLayout layout = layout_for_world(preset_, world_size);
  validate_layout(config, layout, world_size);  // before any weight is read
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  MPI_Get_processor_name(host, &host_length);
  watchdog_ = std::make_unique<Watchdog>(
      std::chrono::seconds(preset_.stall_limit_s),
      "rank " + std::to_string(world_rank) + " (host " + std::string(host) + ")");
  topology_ = std::make_unique<Topology>(layout);
  const std::string rank_map = topology_->rank_map();
  if (leader()) std::printf("%s", rank_map.c_str());

  const ModelShard shard = make_model_shard(config, layout, topology_->coordinates());
  backend_ = rank_backend(options, *topology_);
  int device_sharers = 1;  // ranks computing on this rank's GPU
#ifdef LLMPI_HAVE_CUDA
  if (auto* cuda = dynamic_cast<CudaBackend*>(backend_.get())) {
    device_sharers = ranks_sharing_gpu(*topology_, cuda->pci_bus_id());
    connect_device_groups(options, *cuda);
  }
#endif
  // The planner's verdict for this machine, still before any weight is read.
  PlanSettings settings = plan_settings(preset_);
  settings.dtype = backend_->storage_dtype();
  if (context_tokens > 0) settings.context_length = context_tokens;  // else the preset's
  // A GPU is its ranks' (one, unless --device puts several on it); the CPU backend's RAM is
  // shared by the ranks on the machine.
  const std::int64_t memory =
      backend_->memory_bytes() /
      (options.backend == "cpu" ? topology_->ranks_on_node() : device_sharers);
  check_fits(config, settings, Cluster{topology_->nodes(), topology_->ranks_on_node(), memory},
             layout);
  // The KV tokens every rank can hold beside its weights: batches are sized to it.
  const auto& coordinates = topology_->coordinates();
  const RankMemory planned =
      rank_memory(config, settings, layout, coordinates.tp_rank, coordinates.pp_rank, memory);
  kv_token_budget_ = planned.tokens_fit;
  // What the run can hold at most: the KV pool is the budget, or what a full batch of
  // full-length sequences needs where that is less (the engine sizes it so).
  const std::int64_t batch_kv = std::int64_t{preset_.batch.max_sequences} *
                                settings.context_length * planned.kv_bytes_per_token;
  planned_bytes_ =
      planned.weight_bytes + planned.activation_bytes + planned.reserve_bytes +
      std::clamp<std::int64_t>(batch_kv, 0, std::max<std::int64_t>(planned.kv_budget_bytes, 0)) +
      std::int64_t{preset_.batch.max_sequences} * planned.state_bytes_per_sequence;
  {
    const WaitScope wait("MPI_Allreduce (the KV budget, after the planner)", world_description());
    mpi_check(
        MPI_Allreduce(MPI_IN_PLACE, &kv_token_budget_, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD),
        "MPI_Allreduce");
  }
  Checkpoint checkpoint(model_dir_);
  ModelWeights weights = load_model_weights(config, checkpoint, *backend_, shard);
  const double load_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  double bytes = static_cast<double>(weights.checkpoint_bytes);
  double all_bytes = bytes;
  {
    const WaitScope wait("MPI_Allreduce (after loading the weights)", world_description());
    MPI_Allreduce(&bytes, &all_bytes, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }
  if (leader()) {
    std::printf(
        "model: %s (%s, %d layers, hidden %d, heads %d/%d kv, vocab %d), tp %d pp %d dp %d\n",
        model_dir_.c_str(), architecture_name(config.architecture).c_str(), config.num_layers,
        config.hidden_size, config.num_heads, config.num_kv_heads, config.vocab_size, layout.tp,
        layout.pp, layout.dp);
    std::printf("weights: %.1f MB read by rank 0 (%.1f MB by all ranks) in %.2f s, backend %s\n",
                bytes / 1e6, all_bytes / 1e6, load_seconds, backend_->name().c_str());
  }
  ModelComms comms{&topology_->tp(), &topology_->pp()};
  if (device_tp_) comms.tp = device_tp_.get();
  if (device_pp_) comms.pp = device_pp_.get();
  model_ =
      std::make_unique<Transformer>(std::move(config), std::move(weights), *backend_, shard, comms);
  model_->set_step_tokens(preset_.batch.max_tokens);
  if (leader() && model_->config().hyena.fp8_input_projections) {
    std::printf(
        "note: FP8 input projections: %s; each call's own scale, where Transformer "
        "Engine scales from earlier calls (docs/evo2.md)\n",
        model_->runs_fp8_gemms() ? "FP8 GEMMs on tensor cores (cuBLASLt)"
                                 : "emulated (GEMMs on E4M3 values)");
  }
}

}  // namespace llmpi
