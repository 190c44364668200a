#pragma once

#include <memory>

#include "llmpi/backend/backend.hpp"
#include "llmpi/dist/comm.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

// The Comm of a backend whose tensors MPI cannot read (device memory) where NCCL is not an
// option: several ranks sharing one GPU, which NCCL refuses. Every tensor is downloaded as fp32,
// moved by `group` (MPI, host memory) and uploaded back into place; host values go over `group`
// as they are. Slower than NCCL (each collective waits for the device and crosses PCIe twice),
// and a sum is rounded once to the backend's storage dtype instead of at every step. `group`
// and `backend` must outlive it.
std::unique_ptr<Comm> make_host_staged_comm(MpiComm& group, Backend& backend);

}  // namespace llmpi
