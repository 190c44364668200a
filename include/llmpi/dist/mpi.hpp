#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "llmpi/dist/comm.hpp"

namespace llmpi {

// MPI_Init_thread on construction, MPI_Finalize on destruction. Errors come back as return
// codes (MPI_ERRORS_RETURN) and become exceptions naming the call.
class MpiEnvironment {
 public:
  MpiEnvironment();
  ~MpiEnvironment();
  MpiEnvironment(const MpiEnvironment&) = delete;
  MpiEnvironment& operator=(const MpiEnvironment&) = delete;

  int world_rank() const { return rank_; }
  int world_size() const { return size_; }

 private:
  int rank_ = 0;
  int size_ = 1;
};

void mpi_check(int code, const char* call);

// Rank 0's text to every rank of MPI_COMM_WORLD.
std::string broadcast_from_root(std::string text);
// Every rank's text to rank 0 of MPI_COMM_WORLD, in rank order (empty elsewhere).
// `allowance_s`: how much longer than the stall limit the wait for the slowest rank may take.
std::vector<std::string> gather_to_root(const std::string& text, double allowance_s = 0);

// A communicator handle freed on destruction (never MPI_COMM_WORLD).
class OwnedComm {
 public:
  explicit OwnedComm(MPI_Comm comm = MPI_COMM_NULL) : comm_(comm) {}
  ~OwnedComm();
  OwnedComm(OwnedComm&& other) noexcept;
  OwnedComm& operator=(OwnedComm&& other) noexcept;
  OwnedComm(const OwnedComm&) = delete;
  OwnedComm& operator=(const OwnedComm&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_;
};

// "the world (ranks 0-7)": everyone, for the watchdog's messages about world-wide waits.
const std::string& world_description();
// The largest of every rank's `value` (an all-reduce over MPI_COMM_WORLD).
int largest_on_any_rank(int value);

// Comm over MPI for the CPU backend: tensors are fp32 in host memory. Every operation is a
// wait the watchdog watches (core/wait_watch.hpp), described by the group's name and members.
class MpiComm final : public Comm {
 public:
  // `name`: "the tensor-parallel group", ... (the description adds its world ranks).
  explicit MpiComm(OwnedComm comm, const std::string& name = "a group");

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm handle() const { return comm_.get(); }
  void all_reduce_sum(Tensor& tensor) override;
  void all_gather(const Tensor& part, Tensor& out) override;
  void send(const Tensor& tensor, int peer) override;
  void receive(Tensor& tensor, int peer) override;
  void all_gather(std::span<const float> part, std::span<float> out) override;
  void all_reduce_sum(std::span<std::uint64_t> values) override;
  void broadcast(std::span<std::int32_t> values, int root) override;
  void broadcast(std::span<double> values, int root) override;
  void arg_max(std::span<float> values, std::span<std::int64_t> indices) override;

 private:
  OwnedComm comm_;
  int rank_ = 0;
  int size_ = 1;
  std::string description_;
};

}  // namespace llmpi
