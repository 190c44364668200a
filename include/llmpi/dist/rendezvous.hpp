#pragma once

#include <mpi.h>

#include <chrono>
#include <span>
#include <string>

namespace llmpi {

// The start of a communicator (NCCL's) that must not hang silently when a rank never comes:
// every member of `group` checks in with the group's rank 0 within `timeout`; rank 0 then
// hands every member its `payload` (an NCCL unique id) and the call returns it on every
// member. Otherwise it throws, on rank 0 naming each member that did not arrive (world rank
// and host, from `world_hosts`), on the others naming rank 0 if it did not answer within
// twice the timeout. Only host-side MPI: nothing a GPU or a dead peer can block.
std::string rendezvous(MPI_Comm group, const std::string& payload,
                       std::chrono::milliseconds timeout, const std::string& what,
                       std::span<const std::string> world_hosts);

}  // namespace llmpi
