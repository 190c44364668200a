#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

// Where this rank sits: its node (ranks sharing memory, from MPI_Comm_split_type, or blocks
// of LLMPI_SIMULATED_NODE_SIZE consecutive ranks when testing on one machine), its local rank
// there (and so its GPU), its tp/pp/dp coordinates, and the TP and PP communicators.
// Building it is collective over MPI_COMM_WORLD; it refuses a TP group spread over nodes.
class Topology {
 public:
  explicit Topology(const ParallelLayout& layout);
  ~Topology();

  const ParallelLayout& layout() const { return layout_; }
  const RankCoordinates& coordinates() const { return coordinates_; }
  int world_rank() const { return world_rank_; }
  int node() const { return node_; }
  int local_rank() const { return local_rank_; }
  int ranks_on_node() const { return ranks_on_node_; }
  int nodes() const { return nodes_; }
  const std::string& host() const { return host_; }
  // Every world rank's host, by world rank (for messages naming other ranks).
  const std::vector<std::string>& hosts() const { return hosts_; }
  bool first_stage() const { return coordinates_.pp_rank == 0; }
  bool last_stage() const { return coordinates_.pp_rank == layout_.pp - 1; }

  MpiComm& tp() { return *tp_; }
  MpiComm& pp() { return *pp_; }
  MpiComm& dp() { return *dp_; }

  // One line per rank (gathered to rank 0; empty elsewhere): rank, host, node, local rank,
  // device, tp/pp/dp coordinates.
  std::string rank_map() const;

 private:
  ParallelLayout layout_;
  RankCoordinates coordinates_;
  int world_rank_ = 0;
  int node_ = 0;
  int local_rank_ = 0;
  int ranks_on_node_ = 1;
  int nodes_ = 1;
  std::string host_;
  std::vector<std::string> hosts_;
  std::unique_ptr<MpiComm> tp_, pp_, dp_;
};

}  // namespace llmpi
