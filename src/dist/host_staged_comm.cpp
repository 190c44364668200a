#include "llmpi/dist/host_staged_comm.hpp"

#include <vector>

#include "llmpi/dist/host_values_over_mpi.hpp"

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

class HostStagedComm final : public HostValuesOverMpi {
 public:
  HostStagedComm(MpiComm& group, Backend& backend) : HostValuesOverMpi(group), backend_(backend) {}
  using HostValuesOverMpi::all_gather;
  using HostValuesOverMpi::all_reduce_sum;

  void all_reduce_sum(Tensor& tensor) override {
    if (size() == 1) return;
    std::vector<float> values = backend_.download(tensor);
    Tensor staged = host_view(values, tensor.rows, tensor.cols);
    group().all_reduce_sum(staged);
    store(values, tensor);
  }
  void all_gather(const Tensor& part, Tensor& out) override {
    std::vector<float> mine = backend_.download(part);
    std::vector<float> all(static_cast<std::size_t>(out.numel()));
    group().all_gather(std::span<const float>(mine), std::span<float>(all));
    store(all, out);
  }
  void send(const Tensor& tensor, int peer) override {
    std::vector<float> values = backend_.download(tensor);
    group().send(host_view(values, tensor.rows, tensor.cols), peer);
  }
  void receive(Tensor& tensor, int peer) override {
    std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
    Tensor staged = host_view(values, tensor.rows, tensor.cols);
    group().receive(staged, peer);
    store(values, tensor);
  }

 private:
  // The values back into `tensor`, in its dtype, where it lives (a view included).
  void store(const std::vector<float>& values, Tensor& tensor) {
    backend_.copy_rows(backend_.upload(values, tensor.rows, tensor.cols), tensor, 0);
  }

  Backend& backend_;
};

}  // namespace

std::unique_ptr<Comm> make_host_staged_comm(MpiComm& group, Backend& backend) {
  return std::make_unique<HostStagedComm>(group, backend);
}

}  // namespace llmpi
