#include "llmpi/dist/host_staged_comm.hpp"

#include <vector>

namespace llmpi {

namespace {

// An fp32 host tensor over `values` (MpiComm's kind), borrowing their memory.
Tensor host_view(std::vector<float>& values, std::int64_t rows, std::int64_t cols) {
  Tensor view;
  view.data = values.data();
  view.rows = rows;
  view.cols = cols;
  return view;
}

class HostStagedComm final : public Comm {
 public:
  HostStagedComm(MpiComm& group, Backend& backend) : group_(group), backend_(backend) {}

  int rank() const override { return group_.rank(); }
  int size() const override { return group_.size(); }

  void all_reduce_sum(Tensor& tensor) override {
    if (size() == 1) return;
    std::vector<float> values = backend_.download(tensor);
    Tensor staged = host_view(values, tensor.rows, tensor.cols);
    group_.all_reduce_sum(staged);
    store(values, tensor);
  }
  void all_gather(const Tensor& part, Tensor& out) override {
    std::vector<float> mine = backend_.download(part);
    std::vector<float> all(static_cast<std::size_t>(out.numel()));
    group_.all_gather(std::span<const float>(mine), std::span<float>(all));
    store(all, out);
  }
  void send(const Tensor& tensor, int peer) override {
    std::vector<float> values = backend_.download(tensor);
    group_.send(host_view(values, tensor.rows, tensor.cols), peer);
  }
  void receive(Tensor& tensor, int peer) override {
    std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
    Tensor staged = host_view(values, tensor.rows, tensor.cols);
    group_.receive(staged, peer);
    store(values, tensor);
  }

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

 private:
  // The values back into `tensor`, in its dtype, where it lives (a view included).
  void store(const std::vector<float>& values, Tensor& tensor) {
    backend_.copy_rows(backend_.upload(values, tensor.rows, tensor.cols), tensor, 0);
  }

  MpiComm& group_;
  Backend& backend_;
};

}  // namespace

std::unique_ptr<Comm> make_host_staged_comm(MpiComm& group, Backend& backend) {
  return std::make_unique<HostStagedComm>(group, backend);
}

}  // namespace llmpi
