#include "llmpi/dist/mpi.hpp"

#include <string>
#include <utility>
#include <vector>

#include "llmpi/core/error.hpp"
#include "llmpi/core/wait_watch.hpp"

namespace llmpi {

void mpi_check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw Error(std::string(call) + " failed on rank " + std::to_string(rank) + ": " +
              std::string(text, static_cast<std::size_t>(length)));
}

namespace {

// "ranks 0-3, 8" from sorted world ranks.
std::string rank_list(const std::vector<int>& ranks) {
  std::string text;
  for (std::size_t i = 0; i < ranks.size();) {
    std::size_t j = i;
    while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
    text += (text.empty() ? "" : ", ") + std::to_string(ranks[i]) +
            (j > i ? "-" + std::to_string(ranks[j]) : "");
    i = j + 1;
  }
  return text;
}

}  // namespace

const std::string& world_description() {
  static const std::string description = [] {
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return "the world (ranks 0-" + std::to_string(size - 1) + ")";
  }();
  return description;
}

int largest_on_any_rank(int value) {
  const WaitScope wait("MPI_Allreduce (does any rank want to stop?)", world_description());
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD),
            "MPI_Allreduce");
  return value;
}

std::string broadcast_from_root(std::string text) {
  const WaitScope wait("MPI_Bcast from rank 0", world_description());
  long long length = static_cast<long long>(text.size());
  mpi_check(MPI_Bcast(&length, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
  text.resize(static_cast<std::size_t>(length));
  mpi_check(MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD),
            "MPI_Bcast");
  return text;
}

std::vector<std::string> gather_to_root(const std::string& text, double allowance_s) {
  const WaitScope wait("MPI_Gather to rank 0", world_description(), allowance_s);
  int world = 1;
  int rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int length = static_cast<int>(text.size());
  std::vector<int> lengths(static_cast<std::size_t>(world));
  mpi_check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, MPI_COMM_WORLD),
            "MPI_Gather");
  std::vector<int> offsets(lengths.size());
  int total = 0;
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    offsets[i] = total;
    total += lengths[i];
  }
  std::string all(static_cast<std::size_t>(rank == 0 ? total : 0), '\0');
  mpi_check(MPI_Gatherv(text.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(),
                        MPI_CHAR, 0, MPI_COMM_WORLD),
            "MPI_Gatherv");
  std::vector<std::string> parts;
  if (rank == 0) {
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      parts.push_back(
          all.substr(static_cast<std::size_t>(offsets[i]), static_cast<std::size_t>(lengths[i])));
    }
  }
  return parts;
}

MpiEnvironment::MpiEnvironment() {
  int provided = 0;
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiEnvironment::~MpiEnvironment() {
  MPI_Finalize();
}

OwnedComm::~OwnedComm() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

OwnedComm::OwnedComm(OwnedComm&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)) {}

OwnedComm& OwnedComm::operator=(OwnedComm&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
  }
  return *this;
}

namespace {
// MPI moves host memory (llmpi does not assume a CUDA-aware MPI) as MPI_FLOAT.
int count_of(const Tensor& t) {
  if (t.location != MemoryLocation::host) {
    throw Error("MPI communicator: expects host tensors, got a " +
                std::string(memory_location_name(t.location)) +
                " tensor (device tensors go through NCCL)");
  }
  if (t.dtype != DType::f32) {
    throw Error("MPI communicator: expects fp32 tensors, got " + std::string(dtype_name(t.dtype)));
  }
  return static_cast<int>(t.numel());
}
}  // namespace

MpiComm::MpiComm(OwnedComm comm, const std::string& name) : comm_(std::move(comm)) {
  MPI_Comm_set_errhandler(comm_.get(), MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_.get(), &rank_);
  MPI_Comm_size(comm_.get(), &size_);
  // Its members as world ranks, for messages about waits on them.
  MPI_Group group = MPI_GROUP_NULL, world = MPI_GROUP_NULL;
  MPI_Comm_group(comm_.get(), &group);
  MPI_Comm_group(MPI_COMM_WORLD, &world);
  std::vector<int> local(static_cast<std::size_t>(size_)), global(local.size());
  for (int i = 0; i < size_; ++i) local[static_cast<std::size_t>(i)] = i;
  MPI_Group_translate_ranks(group, size_, local.data(), world, global.data());
  MPI_Group_free(&group);
  MPI_Group_free(&world);
  description_ = name + " (world ranks " + rank_list(global) + ")";
}

void MpiComm::all_reduce_sum(Tensor& tensor) {
  if (size_ == 1) return;
  const WaitScope wait("MPI_Allreduce", description_);
  mpi_check(
      MPI_Allreduce(MPI_IN_PLACE, tensor.data, count_of(tensor), MPI_FLOAT, MPI_SUM, comm_.get()),
      "MPI_Allreduce");
}

void MpiComm::all_gather(const Tensor& part, Tensor& out) {
  const WaitScope wait("MPI_Allgather", description_);
  if (out.numel() != part.numel() * size_) throw Error("MPI all_gather: output size mismatch");
  mpi_check(MPI_Allgather(part.data, count_of(part), MPI_FLOAT, out.data, count_of(part), MPI_FLOAT,
                          comm_.get()),
            "MPI_Allgather");
}

void MpiComm::all_gather(std::span<const float> part, std::span<float> out) {
  const WaitScope wait("MPI_Allgather", description_);
  if (out.size() != part.size() * static_cast<std::size_t>(size_)) {
    throw Error("MPI all_gather: output size mismatch");
  }
  mpi_check(MPI_Allgather(part.data(), static_cast<int>(part.size()), MPI_FLOAT, out.data(),
                          static_cast<int>(part.size()), MPI_FLOAT, comm_.get()),
            "MPI_Allgather");
}

void MpiComm::send(const Tensor& tensor, int peer) {
  const WaitScope wait("MPI_Send to the next pipeline stage", description_);
  mpi_check(MPI_Send(tensor.data, count_of(tensor), MPI_FLOAT, peer, 0, comm_.get()), "MPI_Send");
}

void MpiComm::receive(Tensor& tensor, int peer) {
  const WaitScope wait("MPI_Recv from the previous pipeline stage", description_);
  mpi_check(
      MPI_Recv(tensor.data, count_of(tensor), MPI_FLOAT, peer, 0, comm_.get(), MPI_STATUS_IGNORE),
      "MPI_Recv");
}

void MpiComm::all_reduce_sum(std::span<std::uint64_t> values) {
  if (size_ == 1 || values.empty()) return;
  const WaitScope wait("MPI_Allreduce", description_);
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()),
                          MPI_UINT64_T, MPI_SUM, comm_.get()),
            "MPI_Allreduce");
}

void MpiComm::broadcast(std::span<std::int32_t> values, int root) {
  if (size_ == 1) return;
  const WaitScope wait("MPI_Bcast", description_);
  mpi_check(
      MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_INT32_T, root, comm_.get()),
      "MPI_Bcast");
}

void MpiComm::broadcast(std::span<double> values, int root) {
  if (size_ == 1) return;
  const WaitScope wait("MPI_Bcast", description_);
  mpi_check(
      MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_DOUBLE, root, comm_.get()),
      "MPI_Bcast");
}

void MpiComm::arg_max(std::span<float> values, std::span<std::int64_t> indices) {
  if (values.size() != indices.size()) {
    throw Error("arg_max: " + std::to_string(values.size()) + " values but " +
                std::to_string(indices.size()) + " indices");
  }
  if (size_ == 1 || values.empty()) return;
  const WaitScope wait("MPI_Allgather (arg max)", description_);
  // Gather every candidate and pick on each rank: the tie rule (lowest index) stays exact.
  const int count = static_cast<int>(values.size());
  std::vector<float> all_values(values.size() * static_cast<std::size_t>(size_));
  std::vector<std::int64_t> all_indices(all_values.size());
  mpi_check(MPI_Allgather(values.data(), count, MPI_FLOAT, all_values.data(), count, MPI_FLOAT,
                          comm_.get()),
            "MPI_Allgather");
  mpi_check(MPI_Allgather(indices.data(), count, MPI_INT64_T, all_indices.data(), count,
                          MPI_INT64_T, comm_.get()),
            "MPI_Allgather");
  for (std::size_t i = 0; i < values.size(); ++i) {
    for (int rank = 0; rank < size_; ++rank) {
      const std::size_t at = static_cast<std::size_t>(rank) * values.size() + i;
      if (all_values[at] > values[i] ||
          (all_values[at] == values[i] && all_indices[at] < indices[i])) {
        values[i] = all_values[at];
        indices[i] = all_indices[at];
      }
    }
  }
}

}  // namespace llmpi
