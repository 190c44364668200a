#include "llmpi/dist/topology.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

namespace {

// Ranks of one node. LLMPI_SIMULATED_NODE_SIZE=N makes blocks of N consecutive ranks act as
// nodes, so multi-node placement rules are testable on one machine.
OwnedComm split_node(int world_rank) {
  MPI_Comm node = MPI_COMM_NULL;
  if (const char* simulated = std::getenv("LLMPI_SIMULATED_NODE_SIZE")) {
    const int size = std::atoi(simulated);
    if (size < 1) throw Error("LLMPI_SIMULATED_NODE_SIZE must be a positive integer");
    mpi_check(MPI_Comm_split(MPI_COMM_WORLD, world_rank / size, world_rank, &node),
              "MPI_Comm_split");
  } else {
    mpi_check(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  }
  return OwnedComm(node);
}

std::unique_ptr<MpiComm> split(int color, int key, const std::string& name) {
  MPI_Comm comm = MPI_COMM_NULL;
  mpi_check(MPI_Comm_split(MPI_COMM_WORLD, color, key, &comm), "MPI_Comm_split");
  return std::make_unique<MpiComm>(OwnedComm(comm), name);
}

}  // namespace

Topology::Topology(const ParallelLayout& layout) : layout_(layout) {
  int world_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (layout.world() != world_size) {
    throw Error("parallel layout: dp x pp x tp = " + std::to_string(layout.world()) +
                " ranks, but the job has " + std::to_string(world_size));
  }
  coordinates_ = rank_coordinates(layout, world_rank_);

  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  MPI_Get_processor_name(host, &host_length);
  host_.assign(host, static_cast<std::size_t>(host_length));
  std::vector<char> all_hosts(static_cast<std::size_t>(world_size) * MPI_MAX_PROCESSOR_NAME);
  mpi_check(MPI_Allgather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all_hosts.data(),
                          MPI_MAX_PROCESSOR_NAME, MPI_CHAR, MPI_COMM_WORLD),
            "MPI_Allgather");
  for (int r = 0; r < world_size; ++r) {
    const char* name = all_hosts.data() + static_cast<std::size_t>(r) * MPI_MAX_PROCESSOR_NAME;
    hosts_.emplace_back(name, strnlen(name, MPI_MAX_PROCESSOR_NAME));
  }

  // Node index = position of the node's lowest world rank among all nodes' lowest ranks.
  const OwnedComm node_comm = split_node(world_rank_);
  MPI_Comm_rank(node_comm.get(), &local_rank_);
  MPI_Comm_size(node_comm.get(), &ranks_on_node_);
  int leader = world_rank_;
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node_comm.get()),
            "MPI_Allreduce");
  std::vector<int> leaders(static_cast<std::size_t>(world_size));
  mpi_check(MPI_Allgather(&leader, 1, MPI_INT, leaders.data(), 1, MPI_INT, MPI_COMM_WORLD),
            "MPI_Allgather");
  std::vector<int> distinct = leaders;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  nodes_ = static_cast<int>(distinct.size());
  node_ = static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), leader) -
                           distinct.begin());

  // TP groups all-reduce every layer: all their ranks must share a node.
  const int group_first = world_rank_ - coordinates_.tp_rank;
  for (int r = group_first; r < group_first + layout.tp; ++r) {
    if (leaders[static_cast<std::size_t>(r)] != leader) {
      const int per_node = static_cast<int>(std::count(leaders.begin(), leaders.end(), leader));
      throw Error("tensor-parallel group of ranks " + std::to_string(group_first) + ".." +
                  std::to_string(group_first + layout.tp - 1) + " spans nodes (rank " +
                  std::to_string(world_rank_) + " is on node " + std::to_string(node_) + ", rank " +
                  std::to_string(r) + " is not); tp=" + std::to_string(layout.tp) +
                  " needs consecutive ranks on one node: use a tp that divides the " +
                  std::to_string(per_node) +
                  " ranks per node, and place ranks by node block "
                  "(mpirun --map-by ppr:<ranks per node>:node --rank-by slot, or srun "
                  "--ntasks-per-node=<ranks per node> --distribution=block)");
    }
  }

  const auto& c = coordinates_;
  tp_ = split(c.dp_rank * layout.pp + c.pp_rank, c.tp_rank, "the tensor-parallel group");
  pp_ = split(c.dp_rank * layout.tp + c.tp_rank, c.pp_rank, "the pipeline chain");
  dp_ = split(c.pp_rank * layout.tp + c.tp_rank, c.dp_rank, "the data-parallel group");
}

Topology::~Topology() = default;

std::string Topology::rank_map() const {
  const std::string line =
      "rank " + std::to_string(world_rank_) + ": host " + host_ + ", node " +
      std::to_string(node_) + ", local rank " + std::to_string(local_rank_) + " (device " +
      std::to_string(local_rank_) + "), tp " + std::to_string(coordinates_.tp_rank) + " pp " +
      std::to_string(coordinates_.pp_rank) + " dp " + std::to_string(coordinates_.dp_rank) + "\n";
  std::string all;
  for (const std::string& part : gather_to_root(line)) all += part;
  return all;
}

}  // namespace llmpi
