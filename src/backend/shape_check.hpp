#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "llmpi/backend/tensor.hpp"
#include "llmpi/core/error.hpp"

namespace llmpi {

// Shape mismatches inside a backend are bugs in the caller; the message names the backend,
// the op and the shapes.
class ShapeCheck {
 public:
  explicit ShapeCheck(const char* backend) : backend_(backend) {}

  void require(bool condition, const char* op, const std::string& what) const {
    if (!condition) throw Error(std::string(backend_) + " backend " + op + ": " + what);
  }
  void same_shape(const Tensor& a, const Tensor& b, const char* op) const {
    require(a.rows == b.rows && a.cols == b.cols, op, dims(a) + " vs " + dims(b));
  }
  // scatter_rows: one in-range destination row per source row.
  void scatter(const Tensor& src, const Tensor& dst, std::span<const std::int32_t> rows) const {
    require(src.cols == dst.cols && static_cast<std::int64_t>(rows.size()) == src.rows,
            "scatter_rows",
            dims(src) + " into " + dims(dst) + " with " + std::to_string(rows.size()) + " rows");
    for (const std::int32_t row : rows) {
      require(row >= 0 && row < dst.rows, "scatter_rows",
              "row " + std::to_string(row) + " outside " + dims(dst));
    }
  }
  // decode_attention: one key range inside the cache per query row.
  void decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        int num_heads, int num_kv_heads, int head_dim,
                        std::span<const std::int32_t> first_key,
                        std::span<const std::int32_t> key_count, const Tensor& out) const {
    require(q.cols == static_cast<std::int64_t>(num_heads) * head_dim &&
                k_cache.cols == static_cast<std::int64_t>(num_kv_heads) * head_dim &&
                v_cache.cols == k_cache.cols && v_cache.rows == k_cache.rows && num_kv_heads > 0 &&
                num_heads % num_kv_heads == 0 &&
                static_cast<std::int64_t>(first_key.size()) == q.rows &&
                key_count.size() == first_key.size(),
            "decode_attention",
            "q " + dims(q) + " k_cache " + dims(k_cache) + " with " +
                std::to_string(first_key.size()) + " key ranges");
    same_shape(q, out, "decode_attention");
    for (std::size_t r = 0; r < first_key.size(); ++r) {
      require(first_key[r] >= 0 && key_count[r] >= 1 &&
                  static_cast<std::int64_t>(first_key[r]) + key_count[r] <= k_cache.rows,
              "decode_attention",
              "row " + std::to_string(r) + " keys [" + std::to_string(first_key[r]) + ", +" +
                  std::to_string(key_count[r]) + ") outside " + dims(k_cache));
    }
  }
  // log_softmax_rows: one target column per logits row.
  void one_per_row(const Tensor& rows, std::size_t count, const char* op) const {
    require(static_cast<std::int64_t>(count) == rows.rows, op,
            std::to_string(count) + " targets for " + dims(rows));
  }
  // mass_histogram and gumbel_max_rows: one row maximum and one prefix or threshold per row,
  // `per_row` outputs per row, and a prefix length the radix rounds use.
  void sampling(const Tensor& logits, std::size_t maxima, std::size_t keys, std::size_t outputs,
                std::size_t per_row, int prefix_bits, const char* op) const {
    const auto rows = static_cast<std::size_t>(logits.rows);
    require(maxima == rows && keys == rows && outputs == rows * per_row &&
                (prefix_bits == 0 || prefix_bits == 8 || prefix_bits == 16 || prefix_bits == 24),
            op,
            dims(logits) + " with " + std::to_string(maxima) + " maxima, " + std::to_string(keys) +
                " keys, " + std::to_string(outputs) + " outputs, prefix of " +
                std::to_string(prefix_bits) + " bits");
  }
  static std::string dims(const Tensor& t) {
    return "[" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + "]";
  }

 private:
  const char* backend_;
};

}  // namespace llmpi
