#include "llmpi/backend/backend.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "llmpi/backend/sampling_math.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

std::string dims(const Tensor& t) {
  return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]";
}

std::string count(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what;
}

}  // namespace

// The checks build their messages only once they have failed: the ops run per layer and token.

[[noreturn]] void Backend::fail(const char* op, const std::string& what) const {
  throw Error(name() + " backend " + op + ": " + what);
}

void Backend::expect_own(const char* op, std::initializer_list<Operand> operands) const {
  const MemoryLocation location = memory_location();
  const DType dtype = storage_dtype();
  for (const Operand& operand : operands) {
    const Tensor& t = operand.tensor;
    if (!t.empty() && t.location == location &&
        (t.dtype == dtype ||
         (operand.weight && t.dtype != DType::e4m3 && holds_weights_as(t.dtype)) ||
         (operand.state && t.dtype == DType::f32) ||
         (operand.e4m3 && t.dtype == DType::e4m3 && holds_weights_as(DType::e4m3)))) {
      continue;
    }
    const auto kind = [](MemoryLocation where, DType type) {
      return std::string(memory_location_name(where)) + " " + std::string(dtype_name(type));
    };
    const std::string is =
        t.empty() ? "an empty tensor" : "a " + kind(t.location, t.dtype) + " tensor";
    fail(op, std::string(operand.role) + " " + dims(t) + " is " + is + "; this backend's are " +
                 kind(location, dtype));
  }
}

void Backend::expect_same_shape(const char* op, const Tensor& a, const Tensor& b) const {
  if (a.rows != b.rows || a.cols != b.cols) fail(op, dims(a) + " vs " + dims(b));
}

void Backend::expect_rows_in(const char* op, std::span<const std::int32_t> rows, const Tensor& t,
                             const char* what) const {
  for (const std::int32_t row : rows) {
    if (row < 0 || row >= t.rows) {
      fail(op, std::string(what) + " " + std::to_string(row) + " outside " + dims(t));
    }
  }
}

Tensor Backend::allocate(std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0)
    fail("allocate",
         "negative extent [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  return do_allocate(rows, cols);
}

Tensor Backend::allocate_e4m3(std::int64_t rows, std::int64_t cols) {
  if (!holds_weights_as(DType::e4m3)) {
    fail("allocate_e4m3", "this backend runs no FP8 GEMMs (it emulates FP8 in " +
                              std::string(dtype_name(storage_dtype())) + ")");
  }
  if (rows < 0 || cols < 0)
    fail("allocate_e4m3",
         "negative extent [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  return do_allocate_e4m3(rows, cols);
}

Tensor Backend::allocate_state(std::int64_t rows, std::int64_t cols) {
  if (rows < 0 || cols < 0)
    fail("allocate_state",
         "negative extent [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  Tensor state = do_allocate_state(rows, cols);
  do_zero_rows(state, 0, rows);
  return state;
}

void Backend::zero_rows(Tensor& t, std::int64_t first, std::int64_t count) {
  expect_own("zero_rows", {{"tensor", t, false, true}});
  if (first < 0 || count < 0 || first + count > t.rows) {
    fail("zero_rows", "rows [" + std::to_string(first) + ", " + std::to_string(first + count) +
                          ") of " + dims(t));
  }
  do_zero_rows(t, first, count);
}

void Backend::expect_values_fill(const char* op, std::span<const float> host, std::int64_t rows,
                                 std::int64_t cols) const {
  if (rows < 0 || cols < 0 || static_cast<std::int64_t>(host.size()) != rows * cols) {
    fail(op, count(host.size(), "values") + " for [" + std::to_string(rows) + ", " +
                 std::to_string(cols) + "]");
  }
}

Tensor Backend::upload(std::span<const float> host, std::int64_t rows, std::int64_t cols) {
  expect_values_fill("upload", host, rows, cols);
  return do_upload(host, rows, cols);
}

Tensor Backend::upload_weight(std::span<const float> host, std::int64_t rows, std::int64_t cols,
                              DType stored) {
  expect_values_fill("upload_weight", host, rows, cols);
  if (stored == DType::e4m3 && holds_weights_as(stored)) {
    // Encoding is the check: one pass, on every core, over what may be billions of values.
    std::vector<std::uint8_t> bits(host.size());
    const auto count = static_cast<std::int64_t>(host.size());
    std::int64_t first_bad = count;
#pragma omp parallel for reduction(min : first_bad)
    for (std::int64_t i = 0; i < count; ++i) {
      const std::optional<std::uint8_t> encoded = f32_to_e4m3_exact(host[i]);
      if (encoded) {
        bits[i] = *encoded;
      } else {
        first_bad = std::min(first_bad, i);
      }
    }
    if (first_bad < count) {
      fail("upload_weight", "value " + std::to_string(host[first_bad]) + " at element " +
                                std::to_string(first_bad) + " of [" + std::to_string(rows) + ", " +
                                std::to_string(cols) +
                                "] is not an E4M3 value (round it with round_to_e4m3 first)");
    }
    return do_upload_e4m3(bits, rows, cols);
  }
  return holds_weights_as(stored) ? do_upload_weight(host, rows, cols, stored)
                                  : do_upload(host, rows, cols);
}

std::vector<float> Backend::download(const Tensor& tensor) {
  expect_own("download", {{"tensor", tensor, true, true, true}});
  return do_download(tensor);
}

void Backend::copy_rows(const Tensor& src, Tensor& dst, std::int64_t first_row) {
  expect_own("copy_rows", {{"src", src}, {"dst", dst}});
  if (src.cols != dst.cols || first_row < 0 || first_row + src.rows > dst.rows) {
    fail("copy_rows", dims(src) + " into " + dims(dst) + " at row " + std::to_string(first_row));
  }
  do_copy_rows(src, dst, first_row);
}

void Backend::scatter_rows(const Tensor& src, Tensor& dst, std::span<const std::int32_t> rows) {
  expect_own("scatter_rows", {{"src", src}, {"dst", dst}});
  // One in-range destination row per source row.
  if (src.cols != dst.cols || static_cast<std::int64_t>(rows.size()) != src.rows) {
    fail("scatter_rows", dims(src) + " into " + dims(dst) + " with " + count(rows.size(), "rows"));
  }
  expect_rows_in("scatter_rows", rows, dst, "row");
  do_scatter_rows(src, dst, rows);
}

void Backend::gather_rows(const Tensor& src, std::span<const std::int32_t> rows, Tensor& dst) {
  expect_own("gather_rows", {{"src", src}, {"dst", dst}});
  // One in-range source row per destination row.
  if (src.cols != dst.cols || static_cast<std::int64_t>(rows.size()) != dst.rows) {
    fail("gather_rows", dims(src) + " into " + dims(dst) + " from " + count(rows.size(), "rows"));
  }
  expect_rows_in("gather_rows", rows, src, "row");
  do_gather_rows(src, rows, dst);
}

void Backend::linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& out) {
  expect_own("linear",
             {{"x", x, false, false, true}, {"weight", weight, true, false, true}, {"out", out}});
  if (x.cols != weight.cols || out.rows != x.rows || out.cols != weight.rows) {
    fail("linear", "x " + dims(x) + " weight " + dims(weight) + " out " + dims(out));
  }
  if (x.dtype == DType::e4m3 || weight.dtype == DType::e4m3) {
    // An FP8 GEMM: both operands E4M3, the shape one the backend runs, no bias (the output is
    // scaled afterwards, and a bias would have to be added after that).
    if (x.dtype != weight.dtype || !bias.empty() || !runs_e4m3_linear(weight.rows, weight.cols)) {
      fail("linear", "FP8 GEMM of x " + dims(x) + " " + std::string(dtype_name(x.dtype)) +
                         " by weight " + dims(weight) + " " +
                         std::string(dtype_name(weight.dtype)) +
                         (bias.empty() ? "" : " with a bias") +
                         ": this backend runs FP8 GEMMs only on two E4M3 operands, without a "
                         "bias, of shapes runs_e4m3_linear accepts");
    }
  }
  if (!bias.empty()) {
    expect_own("linear", {{"bias", bias}});
    if (bias.numel() != weight.rows) {
      fail("linear", "bias " + dims(bias) + " for weight " + dims(weight));
    }
  }
  do_linear(x, weight, bias, out);
}

void Backend::rms_norm(const Tensor& x, const Tensor& weight, float eps, Tensor& out,
                       RmsEpsilon where) {
  expect_own("rms_norm", {{"x", x}, {"weight", weight}, {"out", out}});
  expect_same_shape("rms_norm", x, out);
  if (weight.numel() != x.cols) fail("rms_norm", "weight " + dims(weight) + " for x " + dims(x));
  do_rms_norm(x, weight, eps, where, out);
}

void Backend::layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                         Tensor& out) {
  expect_own("layer_norm", {{"x", x}, {"weight", weight}, {"bias", bias}, {"out", out}});
  expect_same_shape("layer_norm", x, out);
  if (weight.numel() != x.cols || bias.numel() != x.cols) {
    fail("layer_norm", "weight " + dims(weight) + " bias " + dims(bias) + " for x " + dims(x));
  }
  do_layer_norm(x, weight, bias, eps, out);
}

void Backend::add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                           Tensor& out, RmsEpsilon where) {
  expect_own("add_rms_norm", {{"x", x}, {"delta", delta}, {"weight", weight}, {"out", out}});
  expect_same_shape("add_rms_norm", x, delta);
  expect_same_shape("add_rms_norm", x, out);
  if (weight.numel() != x.cols) {
    fail("add_rms_norm", "weight " + dims(weight) + " for x " + dims(x));
  }
  do_add_rms_norm(x, delta, weight, eps, where, out);
}

void Backend::add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                             const Tensor& bias, float eps, Tensor& out) {
  expect_own("add_layer_norm",
             {{"x", x}, {"delta", delta}, {"weight", weight}, {"bias", bias}, {"out", out}});
  expect_same_shape("add_layer_norm", x, delta);
  expect_same_shape("add_layer_norm", x, out);
  if (weight.numel() != x.cols || bias.numel() != x.cols) {
    fail("add_layer_norm", "weight " + dims(weight) + " bias " + dims(bias) + " for x " + dims(x));
  }
  do_add_layer_norm(x, delta, weight, bias, eps, out);
}

void Backend::do_add_rms_norm(Tensor& x, const Tensor& delta, const Tensor& weight, float eps,
                              RmsEpsilon where, Tensor& out) {
  do_add(x, delta);
  do_rms_norm(x, weight, eps, where, out);
}

void Backend::do_add_layer_norm(Tensor& x, const Tensor& delta, const Tensor& weight,
                                const Tensor& bias, float eps, Tensor& out) {
  do_add(x, delta);
  do_layer_norm(x, weight, bias, eps, out);
}

void Backend::embedding(std::span<const std::int32_t> ids, const Tensor& table,
                        std::int64_t first_id, Tensor& out) {
  expect_own("embedding", {{"table", table, true}, {"out", out}});
  if (out.rows != static_cast<std::int64_t>(ids.size()) || out.cols != table.cols) {
    fail("embedding",
         "table " + dims(table) + " out " + dims(out) + " for " + count(ids.size(), "ids"));
  }
  do_embedding(ids, table, first_id, out);
}

void Backend::rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions, float theta,
                     float position_divisor) {
  expect_own("rotary", {{"x", x}});
  if (x.rows != static_cast<std::int64_t>(positions.size()) || head_dim <= 0 || head_dim % 2 != 0 ||
      x.cols % head_dim != 0 || !(position_divisor > 0.0f)) {
    fail("rotary", "x " + dims(x) + " head_dim " + std::to_string(head_dim) + ", " +
                       count(positions.size(), "positions") + ", position divisor " +
                       std::to_string(position_divisor));
  }
  do_rotary(x, head_dim, positions, theta, position_divisor);
}

void Backend::split_qkv(const Tensor& fused, Tensor& q, Tensor& k, Tensor& v) {
  expect_own("split_qkv", {{"fused", fused}, {"q", q}, {"k", k}, {"v", v}});
  if (fused.cols != q.cols + k.cols + v.cols || q.rows != fused.rows || k.rows != fused.rows ||
      v.rows != fused.rows || k.cols != v.cols) {
    fail("split_qkv",
         "fused " + dims(fused) + " into " + dims(q) + dims(k) + dims(v) +
             " (q, k and v take all of fused's columns, and k and v have the same width)");
  }
  do_split_qkv(fused, q, k, v);
}

void Backend::qkv_into_cache(const Tensor& fused, int head_dim,
                             std::span<const std::int32_t> positions, float theta,
                             float position_divisor, std::span<const std::int32_t> cache_rows,
                             Tensor& q, Tensor& k_cache, Tensor& v_cache) {
  expect_own("qkv_into_cache",
             {{"fused", fused}, {"q", q}, {"k_cache", k_cache}, {"v_cache", v_cache}});
  const auto tokens = static_cast<std::size_t>(fused.rows);
  // What split_qkv, rotary (of q and of the keys) and scatter_rows each require.
  if (fused.cols != q.cols + 2 * k_cache.cols || q.rows != fused.rows ||
      v_cache.cols != k_cache.cols || v_cache.rows != k_cache.rows || head_dim <= 0 ||
      head_dim % 2 != 0 || q.cols % head_dim != 0 || k_cache.cols % head_dim != 0 ||
      positions.size() != tokens || cache_rows.size() != tokens || !(position_divisor > 0.0f)) {
    fail("qkv_into_cache", "fused " + dims(fused) + " q " + dims(q) + " cache " + dims(k_cache) +
                               " and " + dims(v_cache) + " head_dim " + std::to_string(head_dim) +
                               ", " + count(positions.size(), "positions") + ", " +
                               count(cache_rows.size(), "cache rows") + ", position divisor " +
                               std::to_string(position_divisor));
  }
  expect_rows_in("qkv_into_cache", cache_rows, k_cache, "cache row");
  do_qkv_into_cache(fused, head_dim, positions, theta, position_divisor, cache_rows, q, k_cache,
                    v_cache);
}

void Backend::do_qkv_into_cache(const Tensor& fused, int head_dim,
                                std::span<const std::int32_t> positions, float theta,
                                float position_divisor, std::span<const std::int32_t> cache_rows,
                                Tensor& q, Tensor& k_cache, Tensor& v_cache) {
  Tensor k = do_allocate(fused.rows, k_cache.cols);
  Tensor v = do_allocate(fused.rows, v_cache.cols);
  do_split_qkv(fused, q, k, v);
  do_rotary(q, head_dim, positions, theta, position_divisor);
  do_rotary(k, head_dim, positions, theta, position_divisor);
  do_scatter_rows(k, k_cache, cache_rows);
  do_scatter_rows(v, v_cache, cache_rows);
}

void Backend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        int num_heads, int num_kv_heads, int head_dim, std::int64_t start,
                        Tensor& out) {
  expect_own("attention", {{"q", q}, {"k_cache", k_cache}, {"v_cache", v_cache}, {"out", out}});
  if (head_dim <= 0 || num_kv_heads <= 0 || num_heads % num_kv_heads != 0 ||
      q.cols != static_cast<std::int64_t>(num_heads) * head_dim ||
      k_cache.cols != static_cast<std::int64_t>(num_kv_heads) * head_dim ||
      v_cache.cols != k_cache.cols || v_cache.rows != k_cache.rows || start < 0 ||
      start + q.rows > k_cache.rows) {
    fail("attention", "q " + dims(q) + " k_cache " + dims(k_cache) + " v_cache " + dims(v_cache) +
                          " with " + std::to_string(num_heads) + " heads, " +
                          std::to_string(num_kv_heads) + " KV heads of " +
                          std::to_string(head_dim) + ", start " + std::to_string(start));
  }
  expect_same_shape("attention", q, out);
  do_attention(q, k_cache, v_cache, num_heads, num_kv_heads, head_dim, start, out);
}

void Backend::decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                               int num_heads, int num_kv_heads, int head_dim, const PagedKeys& keys,
                               Tensor& out) {
  expect_own("decode_attention",
             {{"q", q}, {"k_cache", k_cache}, {"v_cache", v_cache}, {"out", out}});
  // Per query row, a block table of cache blocks and a key count they hold.
  const int block = keys.block_tokens;
  if (head_dim <= 0 || num_kv_heads <= 0 || num_heads % num_kv_heads != 0 ||
      q.cols != static_cast<std::int64_t>(num_heads) * head_dim ||
      k_cache.cols != static_cast<std::int64_t>(num_kv_heads) * head_dim ||
      v_cache.cols != k_cache.cols || v_cache.rows != k_cache.rows || block <= 0 ||
      (block & (block - 1)) != 0 || k_cache.rows % block != 0 || keys.blocks_per_row <= 0 ||
      static_cast<std::int64_t>(keys.key_count.size()) != q.rows ||
      keys.block_table.size() !=
          keys.key_count.size() * static_cast<std::size_t>(keys.blocks_per_row)) {
    fail("decode_attention", "q " + dims(q) + " k_cache " + dims(k_cache) + " with " +
                                 count(keys.key_count.size(), "key counts") + ", " +
                                 count(keys.block_table.size(), "block table entries") + " of " +
                                 std::to_string(keys.blocks_per_row) + " per row, blocks of " +
                                 std::to_string(block) + " tokens");
  }
  expect_same_shape("decode_attention", q, out);
  const std::int64_t blocks = k_cache.rows / block;
  for (std::size_t r = 0; r < keys.key_count.size(); ++r) {
    const std::int64_t keys_in_row = keys.key_count[r];
    if (keys_in_row < 1 || keys_in_row > static_cast<std::int64_t>(keys.blocks_per_row) * block) {
      fail("decode_attention", "row " + std::to_string(r) + ": " + std::to_string(keys_in_row) +
                                   " keys in " + std::to_string(keys.blocks_per_row) +
                                   " blocks of " + std::to_string(block));
    }
    const auto first = r * static_cast<std::size_t>(keys.blocks_per_row);
    const auto used = static_cast<std::size_t>((keys_in_row + block - 1) / block);
    for (std::size_t b = first; b < first + used; ++b) {
      if (keys.block_table[b] < 0 || keys.block_table[b] >= blocks) {
        fail("decode_attention", "row " + std::to_string(r) + ": block " +
                                     std::to_string(keys.block_table[b]) + " outside the cache's " +
                                     std::to_string(blocks));
      }
    }
  }
  do_decode_attention(q, k_cache, v_cache, num_heads, num_kv_heads, head_dim, keys, out);
}

void Backend::gated_mul(const Tensor& gate_up, GateActivation activation, Tensor& out) {
  expect_own("gated_mul", {{"gate_up", gate_up}, {"out", out}});
  if (gate_up.cols != 2 * out.cols || gate_up.rows != out.rows) {
    fail("gated_mul", "gate_up " + dims(gate_up) + " out " + dims(out));
  }
  do_gated_mul(gate_up, activation, out);
}

void Backend::expect_state(const char* op, const Tensor& state) const {
  if (state.dtype != DType::f32) {
    fail(op, "state " + dims(state) + " is " + std::string(dtype_name(state.dtype)) +
                 "; recurrent states are fp32 (allocate_state)");
  }
}

void Backend::expect_slots(const char* op, std::span<const std::int32_t> slots, const Tensor& x,
                           const Tensor& state) const {
  if (static_cast<std::int64_t>(slots.size()) != x.rows) {
    fail(op, count(slots.size(), "slots") + " for x " + dims(x));
  }
  expect_rows_in(op, slots, state, "slot");
  // A slot's rows are one run: once another slot's rows start, it never comes back.
  std::vector<bool> finished(static_cast<std::size_t>(state.rows), false);
  for (std::size_t r = 1; r < slots.size(); ++r) {
    if (slots[r] == slots[r - 1]) continue;
    finished[static_cast<std::size_t>(slots[r - 1])] = true;
    if (finished[static_cast<std::size_t>(slots[r])]) {
      fail(op, "slot " + std::to_string(slots[r]) + " comes back at row " + std::to_string(r) +
                   " after other slots' rows");
    }
  }
}

void Backend::causal_conv(const Tensor& x, const Tensor& taps, int group_width, const Tensor& skip,
                          Tensor& state, std::span<const std::int32_t> slots, Tensor& out) {
  expect_own("causal_conv",
             {{"x", x}, {"taps", taps}, {"state", state, false, true}, {"out", out}});
  expect_same_shape("causal_conv", x, out);
  if (out.data == x.data)
    fail("causal_conv", "out is x: the op reads other rows of x as it writes");
  if (group_width <= 0 || taps.rows * group_width != x.cols || taps.cols < 1 ||
      state.cols != (taps.cols - 1) * x.cols) {
    fail("causal_conv", "x " + dims(x) + " taps " + dims(taps) + " group width " +
                            std::to_string(group_width) + " state " + dims(state) +
                            " (taps: a row per group of group_width channels; state: taps - 1 "
                            "inputs of every channel per slot)");
  }
  if (!skip.empty()) {
    expect_own("causal_conv", {{"skip", skip}});
    if (skip.numel() != x.cols) fail("causal_conv", "skip " + dims(skip) + " for x " + dims(x));
  }
  expect_state("causal_conv", state);
  expect_slots("causal_conv", slots, x, state);
  do_causal_conv(x, taps, group_width, skip, state, slots, out);
}

void Backend::modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                         const Tensor& skip, Tensor& state, std::span<const std::int32_t> slots,
                         Tensor& out) {
  expect_own("modal_scan", {{"u", u},
                            {"log_poles", log_poles},
                            {"residues", residues},
                            {"skip", skip},
                            {"state", state, false, true},
                            {"out", out}});
  expect_same_shape("modal_scan", u, out);
  expect_same_shape("modal_scan", log_poles, residues);
  if (log_poles.rows != u.cols || skip.numel() != u.cols || state.cols != u.cols * log_poles.cols) {
    fail("modal_scan", "u " + dims(u) + " poles " + dims(log_poles) + " skip " + dims(skip) +
                           " state " + dims(state) +
                           " (a row of poles per channel; state: every channel's poles per slot)");
  }
  expect_state("modal_scan", state);
  expect_slots("modal_scan", slots, u, state);
  do_modal_scan(u, log_poles, residues, skip, state, slots, out);
}

void Backend::hyena_input(const Tensor& zc, Tensor& u) {
  expect_own("hyena_input", {{"zc", zc}, {"u", u}});
  if (zc.cols != 3 * u.cols || zc.rows != u.rows) {
    fail("hyena_input", "zc " + dims(zc) + " u " + dims(u));
  }
  do_hyena_input(zc, u);
}

void Backend::hyena_output(const Tensor& zc, const Tensor& y, Tensor& out) {
  expect_own("hyena_output", {{"zc", zc}, {"y", y}, {"out", out}});
  expect_same_shape("hyena_output", y, out);
  if (zc.cols != 3 * y.cols || zc.rows != y.rows) {
    fail("hyena_output", "zc " + dims(zc) + " y " + dims(y));
  }
  do_hyena_output(zc, y, out);
}

void Backend::quantize_e4m3(const Tensor& x, Fp8Scaling scaling, Tensor& quantized,
                            Tensor& inverse_scales) {
  expect_own("quantize_e4m3", {{"x", x},
                               {"quantized", quantized, false, false, true},
                               {"inverse_scales", inverse_scales, false, true}});
  expect_same_shape("quantize_e4m3", x, quantized);
  expect_state("quantize_e4m3", inverse_scales);
  if (inverse_scales.rows != x.rows || inverse_scales.cols != 1) {
    fail("quantize_e4m3",
         "inverse_scales " + dims(inverse_scales) + " for x " + dims(x) + " (one per row)");
  }
  do_quantize_e4m3(x, scaling, quantized, inverse_scales);
}

void Backend::scale_rows(Tensor& x, const Tensor& factors, float common) {
  expect_own("scale_rows", {{"x", x}, {"factors", factors, false, true}});
  expect_state("scale_rows", factors);
  if (factors.rows != x.rows || factors.cols != 1) {
    fail("scale_rows", "factors " + dims(factors) + " for x " + dims(x) + " (one per row)");
  }
  do_scale_rows(x, factors, common);
}

void Backend::gelu(Tensor& x) {
  expect_own("gelu", {{"x", x}});
  do_gelu(x);
}

void Backend::gelu_tanh(Tensor& x) {
  expect_own("gelu_tanh", {{"x", x}});
  do_gelu_tanh(x);
}

void Backend::add(Tensor& acc, const Tensor& x) {
  expect_own("add", {{"acc", acc}, {"x", x}});
  expect_same_shape("add", acc, x);
  do_add(acc, x);
}

std::vector<RowMax> Backend::max_rows(const Tensor& x) {
  expect_own("max_rows", {{"x", x}});
  return do_max_rows(x);
}

void Backend::mass_histogram(const Tensor& logits, std::span<const float> row_max,
                             float inv_temperature, std::span<const std::uint32_t> prefix,
                             int prefix_bits, std::span<std::uint64_t> histogram) {
  expect_own("mass_histogram", {{"logits", logits}});
  // One row maximum and one prefix per row, kBins bins per row, and a prefix length the radix
  // rounds use.
  const auto rows = static_cast<std::size_t>(logits.rows);
  if (row_max.size() != rows || prefix.size() != rows ||
      histogram.size() != rows * sampling::kBins ||
      (prefix_bits != 0 && prefix_bits != 8 && prefix_bits != 16 && prefix_bits != 24)) {
    fail("mass_histogram", dims(logits) + " with " + count(row_max.size(), "maxima") + ", " +
                               count(prefix.size(), "prefixes") + ", " +
                               count(histogram.size(), "histogram bins") + ", prefix of " +
                               std::to_string(prefix_bits) + " bits");
  }
  do_mass_histogram(logits, row_max, inv_temperature, prefix, prefix_bits, histogram);
}

std::vector<RowMax> Backend::gumbel_max_rows(const Tensor& logits, std::span<const float> row_max,
                                             float inv_temperature,
                                             std::span<const std::uint32_t> threshold,
                                             std::span<const std::uint64_t> seeds,
                                             std::int64_t first_column) {
  expect_own("gumbel_max_rows", {{"logits", logits}});
  // One row maximum, one threshold and one seed per row.
  const auto rows = static_cast<std::size_t>(logits.rows);
  if (row_max.size() != rows || threshold.size() != rows || seeds.size() != rows) {
    fail("gumbel_max_rows", dims(logits) + " with " + count(row_max.size(), "maxima") + ", " +
                                count(threshold.size(), "thresholds") + ", " +
                                count(seeds.size(), "seeds"));
  }
  return do_gumbel_max_rows(logits, row_max, inv_temperature, threshold, seeds, first_column);
}

std::vector<RowLogSoftmax> Backend::log_softmax_rows(const Tensor& logits,
                                                     std::span<const std::int32_t> targets) {
  expect_own("log_softmax_rows", {{"logits", logits}});
  if (static_cast<std::int64_t>(targets.size()) != logits.rows) {
    fail("log_softmax_rows", count(targets.size(), "targets") + " for " + dims(logits));
  }
  return do_log_softmax_rows(logits, targets);
}

}  // namespace llmpi
