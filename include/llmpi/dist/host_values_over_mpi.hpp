#pragma once

#include "llmpi/dist/comm.hpp"
#include "llmpi/dist/mpi.hpp"

namespace llmpi {

// The part of a device Comm (NCCL, host-staged) that is the same for all of them: its group is
// an MpiComm's, and host values (tokens, arg-max, per-row summaries) travel over that MpiComm.
// Subclasses move the tensors. `group` must outlive it.
class HostValuesOverMpi : public Comm {
 public:
  explicit HostValuesOverMpi(MpiComm& group) : group_(group) {}

  int rank() const override { return group_.rank(); }
  int size() const override { return group_.size(); }

  void all_gather(std::span<const float> part, std::span<float> out) override {
    group_.all_gather(part, out);
  }
  void all_reduce_sum(std::span<std::uint64_t> values) override { group_.all_reduce_sum(values); }
  void broadcast(std::span<std::int32_t> values, int root) override {
    group_.broadcast(values, root);
  }
  void broadcast(std::span<double> values, int root) override { group_.broadcast(values, root); }
  void arg_max(std::span<float> values, std::span<std::int64_t> indices) override {
    group_.arg_max(values, indices);
  }

 protected:
  MpiComm& group() const { return group_; }

 private:
  MpiComm& group_;
};

}  // namespace llmpi
