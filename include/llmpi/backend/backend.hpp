#pragma once

#include <compare>
#include <cstdint>
#include <functional>
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

// Memory and the operations the model is written against. The model code exists once; each
// backend (cpu: fp32 reference, cuda: bf16 storage with fp32 accumulation) implements these.
// Shapes follow Hugging Face: a Linear weight is [out_features, in_features].
class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  virtual DType storage_dtype() const = 0;
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

  virtual Tensor allocate(std::int64_t rows, std::int64_t cols) = 0;
  virtual Tensor upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) = 0;
  virtual std::vector<float> download(const Tensor& tensor) = 0;
  // dst rows [first_row, first_row + src.rows) = src; same column count.
  virtual void copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) = 0;
  // dst row rows[i] = src row i (each sequence's new key and value into its cache rows).
  virtual void scatter_rows(const Tensor& src, Tensor& dst, std::span<const std::int32_t> rows) = 0;
  // dst row i = src row rows[i] (a sequence's keys out of scattered cache blocks).
  virtual void gather_rows(const Tensor& src, std::span<const std::int32_t> rows, Tensor& dst) = 0;

  // out[n, m] = x[n, k] * weight[m, k]^T + bias[m] (bias may be empty).
  virtual void linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) = 0;
  virtual void rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  virtual void layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                          Tensor& out) = 0;
  // x += delta, then out = the norm of x: a residual add and the norm that reads its result, in
  // one pass where a backend fuses them (as written here, two).
  virtual void add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                            Tensor& out) {
    add(x, delta);
    rms_norm(x, weight, eps, out);
  }
  virtual void add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                              const Tensor& bias, float eps, Tensor& out) {
    add(x, delta);
    layer_norm(x, weight, bias, eps, out);
  }
  // out[t] = table[ids[t] - first_id]; ids outside the table's rows give zero rows (a
  // vocabulary-parallel rank holds rows [first_id, first_id + table.rows) only).
  virtual void embedding(std::span<const std::int32_t> ids, const Tensor& table,
                         std::int64_t first_id, Tensor& out) = 0;

  // Rotary position embedding in place on x [tokens, heads * head_dim], rotating element i of
  // each head with element i + head_dim/2 (transformers' rotate_half convention).
  virtual void rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions,
                      float theta) = 0;

  // Splits fused [tokens, q | k | v] columns into q, k and v.
  virtual void split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) = 0;

  // A step's attention inputs from the fused projection [tokens, q | k | v] (q.cols query
  // columns, then k_cache.cols each of keys and values): q rotated into `q`, token t's key
  // rotated into k_cache row cache_rows[t] and its value copied into v_cache row cache_rows[t].
  // This is split_qkv, rotary and scatter_rows, as written here; a backend may do it in one pass.
  virtual void qkv_into_cache(const Tensor& fused, int head_dim,
                              std::span<const std::int32_t> positions, float theta,
                              std::span<const std::int32_t> cache_rows, Tensor& q, Tensor& k_cache,
                              Tensor& v_cache) {
    Tensor k = allocate(fused.rows, k_cache.cols);
    Tensor v = allocate(fused.rows, v_cache.cols);
    split_qkv(fused, q, k, v);
    rotary(q, head_dim, positions, theta);
    rotary(k, head_dim, positions, theta);
    scatter_rows(k, k_cache, cache_rows);
    scatter_rows(v, v_cache, cache_rows);
  }

  // Causal attention for q [tokens, num_heads * head_dim] whose first token sits at position
  // `start`, over k_cache/v_cache [capacity, num_kv_heads * head_dim] whose rows 0 ..
  // start + tokens - 1 are filled. Query head h reads KV head h / (num_heads / num_kv_heads).
  virtual void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                         int num_heads, int num_kv_heads, int head_dim, std::int64_t start,
                         Tensor& out) = 0;

  // A decode step over a batch of sequences: q row r (each sequence's one new query) attends
  // to its own sequence's keys, the new one included, wherever `keys` says they are.
  virtual void decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                int num_heads, int num_kv_heads, int head_dim,
                                const PagedKeys& keys, Tensor& out) = 0;

  // out[t, i] = silu(gate_up[t, i]) * gate_up[t, i + cols/2]
  virtual void silu_mul(const Tensor& gate_up, Tensor& out) = 0;
  // Exact (erf) GELU in place, as torch.nn.GELU().
  virtual void gelu(Tensor& x) = 0;
  // acc += x
  virtual void add(Tensor& acc, const Tensor& x) = 0;
  // Largest element of each row and its index (the lowest index on ties, as torch.argmax).
  virtual std::vector<RowMax> max_rows(const Tensor& x) = 0;
  // Nucleus sampling's two passes over each row of this rank's vocabulary slice, in the numbers
  // of sampling_math.hpp (model/sampler.cpp drives them and sums across TP ranks between).
  // histogram[r * kBins + b] = the fixed_mass of row r's columns whose sortable_key starts with
  // the first `prefix_bits` (0, 8, 16 or 24) bits of prefix[r] and continues with bin b.
  virtual void mass_histogram(const Tensor& logits, std::span<const float> row_max,
                              float inv_temperature, std::span<const std::uint32_t> prefix,
                              int prefix_bits, std::span<std::uint64_t> histogram) = 0;
  // Per row: among columns whose sortable_key is at least threshold[r], the one with the largest
  // gumbel_key, its noise drawn for token first_column + column with seeds[r] (value -inf where
  // no column qualifies; the lowest column on ties).
  virtual std::vector<RowMax> gumbel_max_rows(const Tensor& logits, std::span<const float> row_max,
                                              float inv_temperature,
                                              std::span<const std::uint32_t> threshold,
                                              std::span<const std::uint64_t> seeds,
                                              std::int64_t first_column) = 0;
  // Each row's log-softmax summary with the logit of column targets[r] (a vocabulary-parallel
  // rank passes columns outside its slice for tokens it does not hold): only three numbers per
  // row leave the backend.
  virtual std::vector<RowLogSoftmax> log_softmax_rows(const Tensor& logits,
                                                      std::span<const std::int32_t> targets) = 0;
};

}  // namespace llmpi
