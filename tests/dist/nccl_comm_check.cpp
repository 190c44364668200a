// Every NCCL collective llmpi uses, run once on one GPU: a one-rank communicator (the most a
// one-GPU machine allows, since NCCL refuses two ranks on one GPU) built the way the product
// builds it (MPI rendezvous, non-blocking initialisation), then its all-reduce and all-gather
// on bf16 device tensors and its host values over MPI. Point-to-point (pipeline send and
// receive) needs a peer on a second GPU and is not run here. Exits 77 without a GPU.
#include <cstdio>
#include <string>
#include <vector>

#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/dist/nccl_comm.hpp"

using namespace llmpi;

namespace {

int failures = 0;

void expect(bool condition, const std::string& what) {
  std::printf("%s %s\n", condition ? "ok  " : "FAIL", what.c_str());
  if (!condition) ++failures;
}

}  // namespace

int main() {
  if (const auto reason = cuda_unavailable_reason()) {
    std::printf("SKIP: no usable GPU (%s); this check needs a CUDA device\n", reason->c_str());
    return 77;
  }
  MpiEnvironment mpi;
  try {
    MPI_Comm self = MPI_COMM_NULL;
    mpi_check(MPI_Comm_dup(MPI_COMM_SELF, &self), "MPI_Comm_dup");
    MpiComm group(OwnedComm(self), "a one-rank group");
    CudaBackend backend(0);
    const std::vector<std::string> hosts = {"localhost"};
    const auto comm =
        make_nccl_comm(group, backend, hosts, "one-rank NCCL check", std::chrono::seconds(60));

    // bf16-exact values, so a sum over one rank and a gather of one part are exact.
    std::vector<float> values(3 * 257);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 48.0f;
    Tensor tensor = backend.upload(values, 3, 257);
    comm->all_reduce_sum(tensor);
    expect(backend.download(tensor) == values, "ncclAllReduce (sum, bf16, in place)");

    Tensor gathered = backend.allocate(3, 257);
    comm->all_gather(tensor, gathered);
    expect(backend.download(gathered) == values, "ncclAllGather (bf16)");

    std::vector<float> part = {1.5f, -2.0f}, out(2);
    comm->all_gather(part, out);
    expect(out == part, "host all_gather (MPI)");
    std::vector<std::uint64_t> counts = {7, 9};
    comm->all_reduce_sum(counts);
    expect(counts == std::vector<std::uint64_t>{7, 9}, "host integer all_reduce (MPI)");
    std::vector<float> maxima = {0.25f};
    std::vector<std::int64_t> indices = {11};
    comm->arg_max(maxima, indices);
    expect(maxima[0] == 0.25f && indices[0] == 11, "host arg_max (MPI)");
    backend.synchronize();
  } catch (const std::exception& e) {
    std::printf("FAIL %s\n", e.what());
    ++failures;
  }
  std::printf("NCCL one-rank check: %s\n", failures == 0 ? "passed" : "FAILED");
  return failures == 0 ? 0 : 1;
}
