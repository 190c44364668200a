#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "llmpi/backend/backend.hpp"

namespace llmpi::kernels {
struct AttentionShape;
}

namespace llmpi {

// Why no CUDA device can be used here (driver missing, no device, ...), or nothing if one can.
std::optional<std::string> cuda_unavailable_reason();

// The GPU backend: bf16 storage, fp32 accumulation, GEMMs through cuBLAS, llmpi's kernels for
// the rest, everything on one stream of one device. Every CUDA and cuBLAS call is checked and
// a failure names the call and the device.
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override;
  DType storage_dtype() const override { return DType::bf16; }
  // E4M3 where FP8 GEMMs are on (set_fp8_gemms).
  bool holds_weights_as(DType stored) const override;
  // Shapes whose sides are multiples of 16 (cuBLASLt's FP8 alignment) for which cuBLASLt has
  // an algorithm on this device, while FP8 GEMMs are on.
  bool runs_e4m3_linear(std::int64_t out_features, std::int64_t in_features) const override;
  // FP8 GEMMs (cuBLASLt, E4M3 tensor cores): on by default on devices that have them (compute
  // capability 8.9 and above); off, FP8 is emulated in bf16 GEMMs. Set before building a model.
  void set_fp8_gemms(bool on);
  bool fp8_gemms() const { return fp8_gemms_; }
  std::int64_t memory_bytes() const override;
  int device() const { return device_; }
  // "00000000:3B:00.0": the device as NVML and nvidia-smi know it, whatever CUDA's numbering.
  std::string pci_bus_id() const;
  cudaStream_t stream() const;
  void synchronize() override;

  // Checks run while the host waits for the stream (an NCCL communicator's asynchronous-error
  // poll), so a failed peer ends the wait with its error instead of hanging it. Each may throw.
  int add_wait_check(std::function<void()> check);
  void remove_wait_check(int id);
  // The longest one wait for the stream may take before it fails (zero: no limit).
  void set_wait_timeout(std::chrono::seconds timeout) { wait_timeout_ = timeout; }

  // Decode steps as CUDA graphs: captured once per batch shape and KV cache, then replayed
  // with the step's index arrays copied into the recording's own device buffer.
  Tensor run_repeated(const RepeatedStep& shape,
                      std::span<const std::span<const std::int32_t>> indices,
                      const std::function<Tensor()>& step) override;
  void forget_repeated(std::uint64_t cache_id) override;
  bool records_repeated() const override { return graphs_; }
  void set_records_repeated(bool on) override;

  MemoryLocation memory_location() const override { return MemoryLocation::device; }

  // Fills a tensor with NaN bit patterns, so tests can tell an element no kernel wrote.
  void poison(Tensor& tensor);

 protected:
  Tensor do_allocate(std::int64_t rows, std::int64_t cols) override;
  Tensor do_allocate_e4m3(std::int64_t rows, std::int64_t cols) override;
  // fp32: a recurrent state keeps full precision from step to step.
  Tensor do_allocate_state(std::int64_t rows, std::int64_t cols) override;
  void do_zero_rows(Tensor& t, std::int64_t first, std::int64_t count) override;
  Tensor do_upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) override;
  Tensor do_upload_e4m3(std::span<const std::uint8_t> bits, std::int64_t rows,
                        std::int64_t cols) override;
  std::vector<float> do_download(const Tensor& tensor) override;
  void do_copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) override;
  void do_scatter_rows(const Tensor& src, Tensor& dst, std::span<const std::int32_t> rows) override;
  void do_gather_rows(const Tensor& src, std::span<const std::int32_t> rows, Tensor& dst) override;

  void do_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) override;
  void do_rms_norm(const Tensor& x, const Tensor& weight, float eps, RmsEpsilon where,
                   Tensor& out) override;
  void do_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                     Tensor& out) override;
  // Fused: the residual add and the norm in one kernel.
  void do_add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                       RmsEpsilon where, Tensor& out) override;
  void do_add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight, const Tensor& bias,
                         float eps, Tensor& out) override;
  void do_embedding(std::span<const std::int32_t> ids, const Tensor& table, std::int64_t first_id,
                    Tensor& out) override;
  void do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions, float theta,
                 float position_divisor) override;
  void do_split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) override;
  // Fused: split, rotary and the cache write in one kernel.
  void do_qkv_into_cache(const Tensor& fused, int head_dim, std::span<const std::int32_t> positions,
                         float theta, float position_divisor,
                         std::span<const std::int32_t> cache_rows, Tensor& q, Tensor& k_cache,
                         Tensor& v_cache) override;
  void do_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int num_heads,
                    int num_kv_heads, int head_dim, std::int64_t start, Tensor& out) override;
  void do_decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           int num_heads, int num_kv_heads, int head_dim, const PagedKeys& keys,
                           Tensor& out) override;
  void do_gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out) override;
  void do_causal_conv(const Tensor& x, const Tensor& taps, int group_width, const Tensor& skip,
                      Tensor& state, std::span<const std::int32_t> slots, Tensor& out) override;
  void do_modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                     const Tensor& skip, Tensor& state, std::span<const std::int32_t> slots,
                     Tensor& out) override;
  void do_hyena_input(const Tensor& zc, Tensor& u) override;
  void do_hyena_output(const Tensor& zc, const Tensor& y, Tensor& out) override;
  void do_quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                        Tensor& inverse_scales) override;
  void do_scale_rows(Tensor& x, const Tensor& factors, float common) override;
  void do_gelu(Tensor& x) override;
  void do_gelu_tanh(Tensor& x) override;
  void do_add(Tensor& acc, const Tensor& x) override;
  std::vector<RowMax> do_max_rows(const Tensor& x) override;
  void do_mass_histogram(const Tensor& logits, std::span<const float> row_max,
                         float inv_temperature, std::span<const std::uint32_t> prefix,
                         int prefix_bits, std::span<std::uint64_t> histogram) override;
  std::vector<RowMax> do_gumbel_max_rows(const Tensor& logits, std::span<const float> row_max,
                                         float inv_temperature,
                                         std::span<const std::uint32_t> threshold,
                                         std::span<const std::uint64_t> seeds,
                                         std::int64_t first_column) override;
  std::vector<RowLogSoftmax> do_log_softmax_rows(const Tensor& logits,
                                                 std::span<const std::int32_t> targets) override;

 private:
  struct Handles;
  std::shared_ptr<void> device_bytes(std::size_t bytes);
  Tensor device_tensor(std::int64_t rows, std::int64_t cols, DType dtype);
  std::shared_ptr<void> device_copy(const void* host, std::size_t bytes);
  // Copies device results to the host once the stream has produced them (`why` names the wait).
  void read_back(void* host, const void* device, std::size_t bytes, const char* why);
  std::shared_ptr<int> device_ints(std::span<const std::int32_t> values);
  void check_last_launch(const char* kernel);
  void wait_for_stream(const char* why);
  // out = x weight^T on E4M3 operands through cuBLASLt (Backend::linear checked them).
  void linear_e4m3(const Tensor& x, const Tensor& weight, Tensor& out);
  struct Fp8Gemm;
  // cuBLASLt's descriptors and algorithm for an FP8 GEMM of this shape, made once and kept
  // (n, the rows, is at most a step's tokens, so they are few); nullptr where cuBLASLt has
  // none. Never asked for the first time while a step is captured: the heuristic query is not
  // known to be safe there.
  const Fp8Gemm* fp8_gemm(int m, int n, int k) const;
  void split_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                       const kernels::AttentionShape& shape, Tensor& out);

  struct Recording;
  std::unique_ptr<Recording> record(const RepeatedStep& shape,
                                    std::span<const std::span<const std::int32_t>> indices,
                                    const std::function<Tensor()>& step);

  // While a step is being captured: where its index arrays live on the device, so the
  // recording reads the buffer that each replay refills instead of a one-off upload.
  struct Capture {
    std::span<const std::span<const std::int32_t>> indices;
    std::shared_ptr<void> buffer;
    std::vector<std::size_t> offsets;  // in ints, one per array
    std::int64_t max_keys = 0;
  };

  struct UploadedInts {
    std::vector<std::int32_t> host;
    std::shared_ptr<int> device;
  };

  int device_;
  int multiprocessors_ = 0;
  bool fp8_capable_ = false;  // the device has FP8 tensor cores
  bool fp8_gemms_ = false;
  std::array<UploadedInts, 8> uploads_;  // recent index arrays, reused while unchanged
  std::size_t next_upload_ = 0;
  std::map<int, std::function<void()>> wait_checks_;
  int next_wait_check_ = 0;
  std::chrono::seconds wait_timeout_{0};
  bool graphs_ = false;
  std::optional<Capture> capture_;
  // A shape is recorded the second time it runs (one that runs once is not worth a capture),
  // and at most kMaxRecordings are kept, the least recently replayed dropped first: each holds
  // its logits buffer and the graph's memory.
  static constexpr std::size_t kMaxRecordings = 16;
  std::map<RepeatedStep, std::unique_ptr<Recording>> recordings_;
  std::map<RepeatedStep, std::uint64_t> last_run_;  // shapes seen, by the run they last ran in
  std::uint64_t runs_ = 0;
  std::unique_ptr<Handles> handles_;
};

}  // namespace llmpi
