#include "layout_check.hpp"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "llmpi/core/error.hpp"
#include "reference_fixture.hpp"

namespace llmpi::testing {

LayoutArgs parse_layout_args(int argc, char** argv) {
  LayoutArgs args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--staged") {
      args.staged = true;
      continue;
    }
    if (i + 1 >= argc) break;
    const int value = std::atoi(argv[++i]);
    if (flag == "--tp") args.layout.tp = value;
    if (flag == "--pp") args.layout.pp = value;
    if (flag == "--dp") args.layout.dp = value;
  }
  return args;
}

bool layout_applies(const std::string& fixture, const ModelConfig& config,
                    const ParallelLayout& layout, const Topology& topology) {
  try {
    validate_layout(config, layout, layout.world());
    return true;
  } catch (const Error& error) {
    if (topology.world_rank() == 0) std::printf("SKIP %s: %s\n", fixture.c_str(), error.what());
    return false;
  }
}

int failures_over_fixtures(const ParallelLayout& layout,
                           const std::function<int(const std::string&, Topology&)>& check) {
  int failures = 0;
  try {
    Topology topology(layout);
    for (const std::string& name : reference_fixture_names()) failures += check(name, topology);
  } catch (const std::exception& e) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::fprintf(stderr, "rank %d: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return failures;
}

}  // namespace llmpi::testing
