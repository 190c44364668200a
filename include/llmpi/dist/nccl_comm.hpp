#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>

#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/dist/comm.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

// The Comm of the CUDA backend: the ranks of `group` (a TP group or a PP chain) exchange
// device tensors (bf16) with NCCL, enqueued on the backend's stream; host control values go
// over `group` itself (MPI). Start-up is bounded: an MPI rendezvous names ranks that never
// arrive, then NCCL's non-blocking initialisation must finish within `timeout`. While it
// lives, every wait for the stream also polls NCCL's asynchronous error, so a failed peer ends
// the job with NCCL's message instead of stalling it. `what` names the group in messages.
std::unique_ptr<Comm> make_nccl_comm(MpiComm& group, CudaBackend& backend,
                                     std::span<const std::string> world_hosts,
                                     const std::string& what, std::chrono::seconds timeout);

}  // namespace llmpi
