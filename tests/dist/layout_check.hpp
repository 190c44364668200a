#pragma once

// What the MPI layout checks (parallel_reference_check, cuda_parallel_check) share: their
// command line, the fixtures a layout cannot shard, and the loop over fixtures on every rank.
#include <functional>
#include <string>

#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/dist/topology.hpp"

namespace llmpi::testing {

struct LayoutArgs {
  ParallelLayout layout;
  bool staged = false;  // --staged: host-staged communicators
};

// --tp N --pp N --dp N [--staged]
LayoutArgs parse_layout_args(int argc, char** argv);

// Whether `layout` can shard the fixture's model; if not, world rank 0 says why (a fixture made
// with an odd head count to catch indexing mistakes has no tp=2).
bool layout_applies(const std::string& fixture, const ModelConfig& config,
                    const ParallelLayout& layout, const Topology& topology);

// `check(fixture, topology)` for every reference fixture on every rank of a `layout` topology;
// returns the failures summed over the world. An exception aborts the job, naming its rank.
int failures_over_fixtures(const ParallelLayout& layout,
                           const std::function<int(const std::string&, Topology&)>& check);

}  // namespace llmpi::testing
