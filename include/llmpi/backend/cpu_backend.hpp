#pragma once

#include "llmpi/backend/backend.hpp"

namespace llmpi {

// The reference backend: fp32 activations, KV cache and compute, weights as the checkpoint
// stores them (widened exactly to fp32 as linear reads them), GEMMs through BLAS, OpenMP across
// heads and rows. What CI and laptops run, and the oracle the CUDA backend is checked against
// (tests derive from it to watch the calls the model makes).
class CpuBackend : public Backend {
 public:
  // threads > 0 sets the OpenMP thread count (several ranks sharing a machine split its cores).
  explicit CpuBackend(int threads = 0);
  std::string name() const override { return "cpu"; }
  DType storage_dtype() const override { return DType::f32; }
  std::int64_t memory_bytes() const override;

  MemoryLocation memory_location() const override { return MemoryLocation::host; }
  // bf16 and fp16 checkpoints stay as published: half the memory, widened in linear. E4M3 is
  // for FP8 GEMMs, which this backend does not run (it emulates them on E4M3 values in fp32).
  bool holds_weights_as(DType stored) const override { return stored != DType::e4m3; }

 protected:
  Tensor do_allocate(std::int64_t rows, std::int64_t cols) override;
  void do_zero_rows(Tensor& t, std::int64_t first, std::int64_t count) override;
  Tensor do_upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) override;
  Tensor do_upload_weight(std::span<const float> host, std::int64_t rows, std::int64_t cols,
                          DType stored) override;
  std::vector<float> do_download(const Tensor& tensor) override;
  void do_copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) override;
  void do_scatter_rows(const Tensor& src, Tensor& dst, std::span<const std::int32_t> rows) override;
  void do_gather_rows(const Tensor& src, std::span<const std::int32_t> rows, Tensor& dst) override;

  void do_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) override;
  void do_rms_norm(const Tensor& x, const Tensor& weight, float eps, RmsEpsilon where,
                   Tensor& out) override;
  void do_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                     Tensor& out) override;
  void do_embedding(std::span<const std::int32_t> ids, const Tensor& table, std::int64_t first_id,
                    Tensor& out) override;
  void do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions, float theta,
                 float position_divisor) override;
  void do_split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) override;
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
};

}  // namespace llmpi
