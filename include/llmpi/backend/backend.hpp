#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "llmpi/backend/tensor.hpp"

namespace llmpi {

struct RowMax {
  float value;
  std::int32_t index;
};

// One logits row summarised for log-softmax: log p(target) = target - max - log(sum_exp).
struct RowLogSoftmax {
  float max;
  float sum_exp;  // sum over the row of exp(logit - max)
  float target;   // the target column's logit; 0 where the target is not in the row
};

// A decode step that repeats with the same shapes: model `model` (its address) on `rows`
// sequences of the KV cache `cache_id`, each with at most `max_keys` keys, producing a
// [rows, output_cols] result (0: none).
struct RepeatedStep {
  std::uintptr_t model = 0;
  std::uint64_t cache_id = 0;
  std::int64_t rows = 0;
  std::int64_t max_keys = 0;
  std::int64_t output_cols = 0;
  auto operator<=>(const RepeatedStep&) const = default;
};

// Where each query row's keys are in a paged KV cache (a batched decode step): row r's key j is
// cache row block_table[r * blocks_per_row + j / block_tokens] * block_tokens + j % block_tokens,
// for j < key_count[r]. block_tokens is a power of two.
struct PagedKeys {
  std::span<const std::int32_t> block_table;
  int blocks_per_row = 0;
  int block_tokens = 0;
  std::span<const std::int32_t> key_count;
};

// Where RMSNorm's epsilon goes: into the mean under the square root (Llama, transformers) or
// onto the root itself (StripedHyena: x / (sqrt(mean(x^2)) + eps)).
enum class RmsEpsilon { in_mean, on_root };

// The activation on the first half of a gated MLP's [gate | up] columns.
enum class GateActivation {
  silu,      // SwiGLU (Llama)
  gelu,      // exact (erf) GELU (evo2's first block)
  identity,  // a bilinear MLP (evo2's other blocks)
};

// What one FP8 scale covers (Backend::quantize_e4m3).
enum class Fp8Scaling {
  per_tensor,  // one scale for all rows: the tensor one call of a TE Linear sees
  per_row,     // a scale per row: one decode token of each of several sequences
};

// Memory and the operations the model is written against. The model code exists once; each
// backend (cpu: fp32 reference, cuda: bf16 storage with fp32 accumulation) implements these.
// Shapes follow Hugging Face: a Linear weight is [out_features, in_features].
//
// The public ops check their arguments here, once for every backend: shapes, index ranges, and
// that each tensor is this backend's (its location and dtype). A mismatch is a bug in the
// caller and throws an Error naming the backend, the op and the shapes. They then call the
// protected do_<op>, which a backend implements on arguments known to be valid; it checks only
// what is its own (a kernel's limits).
class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual DType storage_dtype() const = 0;
  // Whether weight matrices (linear weights, embedding tables) may stay in `stored`, the
  // checkpoint's dtype, rather than storage_dtype(): the CPU keeps bf16 and fp16 as published
  // and widens them in its kernels. E4M3 only where the backend runs FP8 GEMMs.
  virtual bool holds_weights_as(DType stored) const { return stored == storage_dtype(); }
  // Whether `linear` multiplies E4M3 inputs (allocate_e4m3) by E4M3 weights (upload_weight with
  // DType::e4m3) of [out_features, in_features] here: FP8 tensor cores, where the device has
  // them and the GEMM library takes that shape. Elsewhere FP8 is emulated on E4M3 values held
  // in the storage dtype.
  virtual bool runs_e4m3_linear(std::int64_t out_features, std::int64_t in_features) const {
    (void)out_features;
    (void)in_features;
    return false;
  }
  // Where the tensors this backend allocates live, and where its ops expect their inputs.
  virtual MemoryLocation memory_location() const = 0;
  // Memory this rank may plan with: the device's, or for the CPU backend the machine's RAM
  // (which the ranks on the machine share).
  virtual std::int64_t memory_bytes() const = 0;

  // Waits until every operation issued so far has finished (timing; a no-op where ops are
  // synchronous).
  virtual void synchronize() {}

  // Runs `step` and returns what it returns. `step` must change from call to call only through
  // the host index arrays in `indices`, which it hands to the ops as these very spans. A backend
  // with graphs (CUDA, when enabled) records it once per RepeatedStep and afterwards only
  // copies the new indices and replays the recording: one launch instead of one per op.
  virtual Tensor run_repeated(const RepeatedStep& shape,
                              std::span<const std::span<const std::int32_t>> indices,
                              const std::function<Tensor()>& step) {
    (void)shape;
    (void)indices;
    return step();
  }
  // Drops the recordings of a KV cache about to be freed (they write to its memory).
  virtual void forget_repeated(std::uint64_t cache_id) { (void)cache_id; }
  // Whether run_repeated records (CUDA graphs); a backend without graphs ignores `on`.
  virtual bool records_repeated() const { return false; }
  virtual void set_records_repeated(bool on) { (void)on; }

  Tensor allocate(std::int64_t rows, std::int64_t cols);
  // An E4M3 tensor (an FP8 GEMM's input, from quantize_e4m3), where holds_weights_as(e4m3).
  // Only quantize_e4m3, linear and download take such tensors.
  Tensor allocate_e4m3(std::int64_t rows, std::int64_t cols);
  // A recurrent state (Hyena layers): fp32 on every backend, since a recurrence rounds at every
  // step and a bf16 state would drift over a long sequence; zero-filled. Only download,
  // zero_rows, causal_conv and modal_scan take such tensors.
  Tensor allocate_state(std::int64_t rows, std::int64_t cols);
  // Rows [first, first + count) of `t` set to zero.
  void zero_rows(Tensor& t, std::int64_t first, std::int64_t count);
  Tensor upload(std::span<const float> host, std::int64_t rows, std::int64_t cols);
  // A weight matrix whose checkpoint dtype is `stored`: kept in it where holds_weights_as
  // says so (values rounded to nearest even, exact for values that came from it), else as
  // upload stores it. Only linear (weight) and embedding (table) take such tensors. For E4M3
  // the values must already be E4M3 values (round_to_e4m3), and only linear takes them.
  Tensor upload_weight(std::span<const float> host, std::int64_t rows, std::int64_t cols,
                       DType stored);
  std::vector<float> download(const Tensor& tensor);
  // dst rows [first_row, first_row + src.rows) = src; same column count.
  void copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row);
  // dst row rows[i] = src row i (each sequence's new key and value into its cache rows).
  void scatter_rows(const Tensor& src, Tensor& dst, std::span<const std::int32_t> rows);
  // dst row i = src row rows[i] (a sequence's keys out of scattered cache blocks).
  void gather_rows(const Tensor& src, std::span<const std::int32_t> rows, Tensor& dst);

  // out[n, m] = x[n, k] * weight[m, k]^T + bias[m] (bias may be empty). An FP8 GEMM where x
  // and weight are both E4M3 (runs_e4m3_linear; no bias): out holds the unscaled products,
  // summed in fp32 or, as Transformer Engine's forward GEMMs on Hopper, in its faster
  // accumulator (docs/evo2.md).
  void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out);
  void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out,
                RmsEpsilon where = RmsEpsilon::in_mean);
  void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                  Tensor& out);
  // x += delta, then out = the norm of x: a residual add and the norm that reads its result, in
  // one pass where a backend fuses them (by default, two).
  void add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps, Tensor& out,
                    RmsEpsilon where = RmsEpsilon::in_mean);
  void add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight, const Tensor& bias,
                      float eps, Tensor& out);
  // out[t] = table[ids[t] - first_id]; ids outside the table's rows give zero rows (a
  // vocabulary-parallel rank holds rows [first_id, first_id + table.rows) only).
  void embedding(std::span<const std::int32_t> ids, const Tensor& table, std::int64_t first_id,
                 Tensor& out);

  // Rotary position embedding in place on x [tokens, heads * head_dim], rotating element i of
  // each head with element i + head_dim/2 (transformers' rotate_half convention); head_dim is
  // even. theta 0 rotates nothing: a model with learned positions added them to its embedding
  // instead. The angles are those of position / position_divisor (linear position
  // interpolation; 1 for most models).
  void rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions, float theta,
              float position_divisor = 1.0f);

  // Splits fused [tokens, q | k | v] columns into q, k and v. k and v have the same width (keys
  // and values both span the KV heads, and qkv_into_cache's caches share one width).
  void split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v);

  // A step's attention inputs from the fused projection [tokens, q | k | v] (q.cols query
  // columns, then k_cache.cols each of keys and values): q rotated into `q`, token t's key
  // rotated into k_cache row cache_rows[t] and its value copied into v_cache row cache_rows[t].
  // k_cache and v_cache have the same shape. By default split_qkv, rotary and scatter_rows; a
  // backend may do it in one pass.
  void qkv_into_cache(const Tensor& fused, int head_dim, std::span<const std::int32_t> positions,
                      float theta, float position_divisor, std::span<const std::int32_t> cache_rows,
                      Tensor& q, Tensor& k_cache, Tensor& v_cache);

  // Causal attention for q [tokens, num_heads * head_dim] whose first token sits at position
  // `start`, over k_cache/v_cache [capacity, num_kv_heads * head_dim] (the same shape) whose rows
  // 0 .. start + tokens - 1 are filled. Query head h reads KV head h / (num_heads / num_kv_heads).
  void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int num_heads,
                 int num_kv_heads, int head_dim, std::int64_t start, Tensor& out);

  // A decode step over a batch of sequences: q row r (each sequence's one new query) attends
  // to its own sequence's keys, the new one included, wherever `keys` says they are.
  void decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        int num_heads, int num_kv_heads, int head_dim, const PagedKeys& keys,
                        Tensor& out);

  // out[t, i] = activation(gate_up[t, i]) * gate_up[t, i + cols/2]
  void gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out);

  // Hyena's operators (StripedHyena 2, docs/evo2.md) run on rows that continue sequences: row r
  // of the input belongs to the sequence whose recurrent state is row slots[r] of `state`, and
  // the rows of one slot are consecutive and in token order (a prefill chunk of one sequence, or
  // one decode token of each of several). The state holds what a sequence's earlier tokens
  // leave behind, so a chunk or a single token computes exactly what re-running the whole
  // sequence would; each op updates it for the rows it ran.
  //
  // A causal FIR per channel: out[t, c] = sum_k taps[c / group_width, k] * x[t - k, c]
  // (+ skip[c] * x[t, c] where `skip` [1, channels] is given), the inputs before the chunk
  // from state [slots, (taps.cols - 1) * channels] (oldest first; zeros for a new sequence).
  // `out` is another tensor than `x` (other rows of x are read while out is written). States
  // come from allocate_state.
  void causal_conv(const Tensor& x, const Tensor& taps, int group_width, const Tensor& skip,
                   Tensor& state, std::span<const std::int32_t> slots, Tensor& out);
  // The modal (diagonal, real-pole) long filter as its recurrence, for each channel c and pole
  // s: h_s = exp(log_poles[c, s]) * h_s + u[t, c], out[t, c] = sum_s residues[c, s] h_s +
  // skip[c] u[t, c]; h from and back into state [slots, channels * poles] (c-major).
  void modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                  const Tensor& skip, Tensor& state, std::span<const std::int32_t> slots,
                  Tensor& out);
  // Hyena's gates on interleaved projections zc [rows, 3 * channels] (per channel: output gate,
  // x1, v): the operator's input u[t, c] = zc[t, 3c + 1] * zc[t, 3c + 2], and its gated output
  // out[t, c] = zc[t, 3c] * y[t, c].
  void hyena_input(const Tensor& zc, Tensor& u);
  void hyena_output(const Tensor& zc, const Tensor& y, Tensor& out);
  // FP8 E4M3 quantisation as Transformer Engine's per-tensor scaling does it (fp8_e4m3.hpp):
  // quantized = round_to_e4m3(x * s) with s = e4m3_scale(amax), amax the largest |x| over the
  // whole tensor or over each row (`scaling`); inverse_scales [rows, 1] (fp32, allocate_state)
  // gets each row's 1 / s. `quantized` holds the E4M3 values in x's dtype (exactly).
  void quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                     Tensor& inverse_scales);
  // x[r, :] *= factors[r] * common, the product taken in fp32 first (an FP8 GEMM's output
  // scaling); factors [rows, 1] fp32.
  void scale_rows(Tensor& x, const Tensor& factors, float common);
  // Exact (erf) GELU in place, as torch.nn.GELU().
  void gelu(Tensor& x);
  // GPT-2's tanh approximation in place: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
  void gelu_tanh(Tensor& x);
  // acc += x
  void add(Tensor& acc, const Tensor& x);
  // Largest element of each row and its index (the lowest index on ties, as torch.argmax).
  std::vector<RowMax> max_rows(const Tensor& x);
  // Nucleus sampling's two passes over each row of this rank's vocabulary slice, in the numbers
  // of sampling_math.hpp (model/sampler.cpp drives them and sums across TP ranks between).
  // histogram[r * kBins + b] = the fixed_mass of row r's columns whose sortable_key starts with
  // the first `prefix_bits` (0, 8, 16 or 24) bits of prefix[r] and continues with bin b.
  void mass_histogram(const Tensor& logits, std::span<const float> row_max, float inv_temperature,
                      std::span<const std::uint32_t> prefix, int prefix_bits,
                      std::span<std::uint64_t> histogram);
  // Per row: among columns whose sortable_key is at least threshold[r], the one with the largest
  // gumbel_key, its noise drawn for token first_column + column with seeds[r] (value -inf where
  // no column qualifies; the lowest column on ties).
  std::vector<RowMax> gumbel_max_rows(const Tensor& logits, std::span<const float> row_max,
                                      float inv_temperature,
                                      std::span<const std::uint32_t> threshold,
                                      std::span<const std::uint64_t> seeds,
                                      std::int64_t first_column);
  // Each row's log-softmax summary with the logit of column targets[r] (a vocabulary-parallel
  // rank passes columns outside its slice for tokens it does not hold): only three numbers per
  // row leave the backend.
  std::vector<RowLogSoftmax> log_softmax_rows(const Tensor& logits,
                                              std::span<const std::int32_t> targets);

 protected:
  // The ops' implementations, called with arguments the public op above has checked.
  virtual Tensor do_allocate(std::int64_t rows, std::int64_t cols) = 0;
  // Called only where holds_weights_as(DType::e4m3).
  virtual Tensor do_allocate_e4m3(std::int64_t rows, std::int64_t cols) {
    (void)rows;
    (void)cols;
    return {};
  }
  // By default do_allocate: a backend whose storage is not fp32 overrides it.
  virtual Tensor do_allocate_state(std::int64_t rows, std::int64_t cols) {
    return do_allocate(rows, cols);
  }
  virtual void do_zero_rows(Tensor& t, std::int64_t first, std::int64_t count) = 0;
  virtual Tensor do_upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) = 0;
  // E4M3 bytes (upload_weight encoded and checked them), where holds_weights_as(e4m3).
  virtual Tensor do_upload_e4m3(std::span<const std::uint8_t> bits, std::int64_t rows,
                                std::int64_t cols) {
    (void)bits;
    (void)rows;
    (void)cols;
    return {};
  }
  // Called only for a `stored` this backend holds weights in (holds_weights_as), never E4M3.
  virtual Tensor do_upload_weight(std::span<const float> host, std::int64_t rows, std::int64_t cols,
                                  DType stored) {
    (void)stored;
    return do_upload(host, rows, cols);
  }
  virtual std::vector<float> do_download(const Tensor& tensor) = 0;
  virtual void do_copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) = 0;
  virtual void do_scatter_rows(const Tensor& src, Tensor& dst,
                               std::span<const std::int32_t> rows) = 0;
  virtual void do_gather_rows(const Tensor& src, std::span<const std::int32_t> rows,
                              Tensor& dst) = 0;
  virtual void do_linear(const Tensor& x, const Tensor& weight, const Tensor& bias,
                         Tensor& out) = 0;
  virtual void do_rms_norm(const Tensor& x, const Tensor& weight, float eps, RmsEpsilon where,
                           Tensor& out) = 0;
  virtual void do_layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                             Tensor& out) = 0;
  // By default do_add, then the norm.
  virtual void do_add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                               RmsEpsilon where, Tensor& out);
  virtual void do_add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                                 const Tensor& bias, float eps, Tensor& out);
  virtual void do_embedding(std::span<const std::int32_t> ids, const Tensor& table,
                            std::int64_t first_id, Tensor& out) = 0;
  virtual void do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions,
                         float theta, float position_divisor) = 0;
  virtual void do_split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) = 0;
  // By default do_split_qkv, do_rotary on q and k, and do_scatter_rows of k and v.
  virtual void do_qkv_into_cache(const Tensor& fused, int head_dim,
                                 std::span<const std::int32_t> positions, float theta,
                                 float position_divisor, std::span<const std::int32_t> cache_rows,
                                 Tensor& q, Tensor& k_cache, Tensor& v_cache);
  virtual void do_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                            int num_heads, int num_kv_heads, int head_dim, std::int64_t start,
                            Tensor& out) = 0;
  virtual void do_decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                   int num_heads, int num_kv_heads, int head_dim,
                                   const PagedKeys& keys, Tensor& out) = 0;
  virtual void do_gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out) = 0;
  virtual void do_causal_conv(const Tensor& x, const Tensor& taps, int group_width,
                              const Tensor& skip, Tensor& state,
                              std::span<const std::int32_t> slots, Tensor& out) = 0;
  virtual void do_modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                             const Tensor& skip, Tensor& state, std::span<const std::int32_t> slots,
                             Tensor& out) = 0;
  virtual void do_hyena_input(const Tensor& zc, Tensor& u) = 0;
  virtual void do_hyena_output(const Tensor& zc, const Tensor& y, Tensor& out) = 0;
  virtual void do_quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                                Tensor& inverse_scales) = 0;
  virtual void do_scale_rows(Tensor& x, const Tensor& factors, float common) = 0;
  virtual void do_gelu(Tensor& x) = 0;
  virtual void do_gelu_tanh(Tensor& x) = 0;
  virtual void do_add(Tensor& acc, const Tensor& x) = 0;
  virtual std::vector<RowMax> do_max_rows(const Tensor& x) = 0;
  virtual void do_mass_histogram(const Tensor& logits, std::span<const float> row_max,
                                 float inv_temperature, std::span<const std::uint32_t> prefix,
                                 int prefix_bits, std::span<std::uint64_t> histogram) = 0;
  virtual std::vector<RowMax> do_gumbel_max_rows(const Tensor& logits,
                                                 std::span<const float> row_max,
                                                 float inv_temperature,
                                                 std::span<const std::uint32_t> threshold,
                                                 std::span<const std::uint64_t> seeds,
                                                 std::int64_t first_column) = 0;
  virtual std::vector<RowLogSoftmax> do_log_softmax_rows(const Tensor& logits,
                                                         std::span<const std::int32_t> targets) = 0;

 private:
  // A tensor argument of an op and the name the op's message gives it.
  struct Operand {
    const char* role;
    const Tensor& tensor;
    bool weight = false;  // may also be in a dtype the backend holds weights in
    bool state = false;   // may also be an fp32 recurrent state (allocate_state)
    bool e4m3 = false;    // may also be E4M3 where the backend holds it (an FP8 GEMM operand)
  };
  // Each operand has memory (is not empty), and it is this backend's: its location and
  // storage dtype.
  void expect_own(const char* op, std::initializer_list<Operand> operands) const;
  void expect_same_shape(const char* op, const Tensor& a, const Tensor& b) const;
  // `host` holds exactly rows x cols values.
  void expect_values_fill(const char* op, std::span<const float> host, std::int64_t rows,
                          std::int64_t cols) const;
  void expect_rows_in(const char* op, std::span<const std::int32_t> rows, const Tensor& t,
                      const char* what) const;
  // A recurrent state from allocate_state (fp32).
  void expect_state(const char* op, const Tensor& state) const;
  // One slot per row of x, each a row of state, each slot's rows consecutive.
  void expect_slots(const char* op, std::span<const std::int32_t> slots, const Tensor& x,
                    const Tensor& state) const;
  [[noreturn]] void fail(const char* op, const std::string& what) const;
};

}  // namespace llmpi
