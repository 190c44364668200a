#include "llmpi/dist/nccl_comm.hpp"

#include <nccl.h>

#include <cstring>
#include <exception>
#include <string>
#include <thread>

#include "llmpi/core/error.hpp"
#include "llmpi/dist/host_values_over_mpi.hpp"
#include "llmpi/dist/rendezvous.hpp"

namespace llmpi {

namespace {

using Clock = std::chrono::steady_clock;

class NcclComm final : public HostValuesOverMpi {
 public:
  NcclComm(MpiComm& group, CudaBackend& backend, std::span<const std::string> world_hosts,
           std::string what, std::chrono::seconds timeout)
      : HostValuesOverMpi(group), backend_(backend), what_(std::move(what)), timeout_(timeout) {
    // The unique id travels over MPI, inside a rendezvous that names whoever does not come.
    ncclUniqueId id{};
    if (group.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    const std::string payload =
        group.rank() == 0 ? std::string(reinterpret_cast<const char*>(&id), sizeof id) : "";
    const std::string received = rendezvous(
        group.handle(), payload, std::chrono::duration_cast<std::chrono::milliseconds>(timeout),
        what_, world_hosts);
    if (received.size() != sizeof id) throw Error(what_ + ": malformed NCCL unique id");
    std::memcpy(&id, received.data(), sizeof id);

    // Non-blocking initialisation, polled against the deadline: a transport that never
    // connects becomes an error naming the group, not a silent hang.
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t started =
        ncclCommInitRankConfig(&comm_, group.size(), id, group.rank(), &config);
    if (started != ncclSuccess && started != ncclInProgress) {
      check(started, "ncclCommInitRankConfig");
    }
    wait_ready(
        "ncclCommInitRankConfig (every rank of the group arrived; NCCL could not "
        "connect them)");
    check_id_ = backend_.add_wait_check([this] { poll_async_error(); });
  }

  ~NcclComm() override {
    backend_.remove_wait_check(check_id_);
    if (comm_ == nullptr) return;
    // While an error unwinds (or after NCCL reported one) pending work may never finish:
    // abort rather than destroy, which would wait for it.
    if (failed_ || std::uncaught_exceptions() > 0 || !finalized()) {
      ncclCommAbort(comm_);
    } else {
      ncclCommDestroy(comm_);
    }
  }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  using HostValuesOverMpi::all_gather;
  using HostValuesOverMpi::all_reduce_sum;

  // Enqueued even on one rank (a copy): the product makes NCCL groups of two or more only, and
  // the one-rank check (tests/dist/nccl_comm_check.cpp) must reach NCCL.
  void all_reduce_sum(Tensor& tensor) override {
    enqueue(ncclAllReduce(tensor.data, tensor.data, count(tensor), ncclBfloat16, ncclSum, comm_,
                          backend_.stream()),
            "ncclAllReduce");
  }
  void all_gather(const Tensor& part, Tensor& out) override {
    if (out.numel() != part.numel() * size()) {
      throw Error(what_ + ": all_gather output of " + std::to_string(out.numel()) +
                  " elements for " + std::to_string(size()) + " parts of " +
                  std::to_string(part.numel()));
    }
    enqueue(ncclAllGather(part.data, out.data, count(part), ncclBfloat16, comm_, backend_.stream()),
            "ncclAllGather");
  }
  void send(const Tensor& tensor, int peer) override {
    enqueue(ncclSend(tensor.data, count(tensor), ncclBfloat16, peer, comm_, backend_.stream()),
            "ncclSend");
  }
  void receive(Tensor& tensor, int peer) override {
    enqueue(ncclRecv(tensor.data, count(tensor), ncclBfloat16, peer, comm_, backend_.stream()),
            "ncclRecv");
  }

 private:
  std::size_t count(const Tensor& t) const {
    // NCCL reads device memory, and is told the elements are ncclBfloat16.
    if (t.location != MemoryLocation::device) {
      throw Error(what_ + ": NCCL communicator expects device tensors, got a " +
                  std::string(memory_location_name(t.location)) + " tensor");
    }
    if (t.dtype != DType::bf16) {
      throw Error(what_ + ": NCCL communicator expects bf16 tensors, got " +
                  std::string(dtype_name(t.dtype)));
    }
    return static_cast<std::size_t>(t.numel());
  }

  [[noreturn]] void fail(ncclResult_t result, const std::string& call) {
    std::string detail = ncclGetErrorString(result);
    if (comm_ != nullptr) {
      if (const char* last = ncclGetLastError(comm_); last != nullptr && *last != '\0') {
        detail += ": " + std::string(last);
      }
    }
    failed_ = true;
    throw Error(what_ + " (rank " + std::to_string(rank()) + " of " + std::to_string(size()) +
                ", CUDA device " + std::to_string(backend_.device()) + "): " + call +
                " failed: " + detail);
  }
  void check(ncclResult_t result, const std::string& call) {
    if (result != ncclSuccess) fail(result, call);
  }

  // A non-blocking communicator may answer ncclInProgress (connections are made lazily);
  // the call is then complete once the communicator's state leaves ncclInProgress.
  void enqueue(ncclResult_t result, const char* call) {
    if (result == ncclInProgress) {
      wait_ready(call);
    } else {
      check(result, call);
    }
  }

  void wait_ready(const std::string& call) {
    const Clock::time_point deadline = Clock::now() + timeout_;
    while (true) {
      ncclResult_t state = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) fail(state, call);
      if (Clock::now() >= deadline) {
        failed_ = true;
        throw Error(what_ + " (rank " + std::to_string(rank()) + " of " + std::to_string(size()) +
                    ", CUDA device " + std::to_string(backend_.device()) + "): " + call +
                    " did not finish within " + std::to_string(timeout_.count()) +
                    " s (LLMPI_COMM_TIMEOUT_S sets the limit; NCCL_DEBUG=INFO shows the "
                    "transport's progress)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  // The documented teardown of a non-blocking communicator, bounded: finalize (which waits
  // for the peers' last operations), poll until done, then destroy.
  bool finalized() {
    const ncclResult_t started = ncclCommFinalize(comm_);
    if (started != ncclSuccess && started != ncclInProgress) return false;
    const Clock::time_point deadline = Clock::now() + timeout_;
    ncclResult_t state = ncclInProgress;
    while (state == ncclInProgress && Clock::now() < deadline) {
      if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess) return false;
      if (state == ncclInProgress) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return state == ncclSuccess;
  }

  void poll_async_error() {
    if (comm_ == nullptr) return;  // already aborted; its error was reported then
    ncclResult_t state = ncclSuccess;
    check(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
    if (state != ncclSuccess && state != ncclInProgress) {
      ncclCommAbort(comm_);  // lets the stuck kernels end, so the stream can drain
      comm_ = nullptr;
      failed_ = true;
      throw Error(what_ + " (rank " + std::to_string(rank()) + " of " + std::to_string(size()) +
                  ", CUDA device " + std::to_string(backend_.device()) +
                  "): asynchronous NCCL error: " + ncclGetErrorString(state) +
                  "; a peer rank failed or the network between them broke");
    }
  }

  CudaBackend& backend_;
  std::string what_;
  std::chrono::seconds timeout_;
  ncclComm_t comm_ = nullptr;
  int check_id_ = -1;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<Comm> make_nccl_comm(MpiComm& group, CudaBackend& backend,
                                     std::span<const std::string> world_hosts,
                                     const std::string& what, std::chrono::seconds timeout) {
  return std::make_unique<NcclComm>(group, backend, world_hosts, what, timeout);
}

}  // namespace llmpi
