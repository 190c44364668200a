#pragma once

#include <cstdint>
#include <span>

#include "llmpi/backend/tensor.hpp"

namespace llmpi {

// Collectives and point-to-point transfers within one group of ranks (a TP group, a PP chain).
// Tensors live where the backend keeps them: host memory for MPI, device memory for NCCL.
class Comm {
 public:
  virtual ~Comm() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  virtual void all_reduce_sum(Tensor& tensor) = 0;
  // out = concatenation of every rank's `part` in rank order (out.numel() = size * part).
  virtual void all_gather(const Tensor& part, Tensor& out) = 0;
  virtual void send(const Tensor& tensor, int peer) = 0;
  virtual void receive(Tensor& tensor, int peer) = 0;

  // Host-side values (control, and small per-row summaries that must stay fp32).
  // out = concatenation of every rank's `part` in rank order.
  virtual void all_gather(std::span<const float> part, std::span<float> out) = 0;
  // Element-wise sum over the group, in place (integers: exact, the same on every rank).
  virtual void all_reduce_sum(std::span<std::uint64_t> values) = 0;
  virtual void broadcast(std::span<std::int32_t> values, int root) = 0;
  virtual void broadcast(std::span<double> values, int root) = 0;
  // For each entry i: the largest values[i] over the group and its index, in place; the lowest
  // index among equal values.
  virtual void arg_max(std::span<float> values, std::span<std::int64_t> indices) = 0;
};

}  // namespace llmpi
