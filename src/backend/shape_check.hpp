#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "llmpi/backend/backend.hpp"
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
  // gather_rows: one in-range source row per destination row.
  void gather(const Tensor& src, std::span<const std::int32_t> rows, const Tensor& dst) const {
    require(src.cols == dst.cols && static_cast<std::int64_t>(rows.size()) == dst.rows,
            "gather_rows",
            dims(src) + " into " + dims(dst) + " from " + std::to_string(rows.size()) + " rows");
    for (const std::int32_t row : rows) {
      require(row >= 0 && row < src.rows, "gather_rows",
              "row " + std::to_string(row) + " outside " + dims(src));
    }
  }
  // decode_attention: per query row, a block table of cache blocks and a key count they hold.
  void decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        int num_heads, int num_kv_heads, int head_dim, const PagedKeys& keys,
                        const Tensor& out) const {
    const int block = keys.block_tokens;
    require(q.cols == static_cast<std::int64_t>(num_heads) * head_dim &&
                k_cache.cols == static_cast<std::int64_t>(num_kv_heads) * head_dim &&
                v_cache.cols == k_cache.cols && v_cache.rows == k_cache.rows && num_kv_heads > 0 &&
                num_heads % num_kv_heads == 0 && block > 0 && (block & (block - 1)) == 0 &&
                k_cache.rows % block == 0 && keys.blocks_per_row > 0 &&
                static_cast<std::int64_t>(keys.key_count.size()) == q.rows &&
                keys.block_table.size() ==
                    keys.key_count.size() * static_cast<std::size_t>(keys.blocks_per_row),
            "decode_attention",
            "q " + dims(q) + " k_cache " + dims(k_cache) + " with " +
                std::to_string(keys.key_count.size()) + " key counts, " +
                std::to_string(keys.block_table.size()) + " block table entries of " +
                std::to_string(keys.blocks_per_row) + " per row, blocks of " +
                std::to_string(block) + " tokens");
    same_shape(q, out, "decode_attention");
    const std::int64_t blocks = k_cache.rows / block;
    for (std::size_t r = 0; r < keys.key_count.size(); ++r) {
      const std::int64_t count = keys.key_count[r];
      require(count >= 1 && count <= static_cast<std::int64_t>(keys.blocks_per_row) * block,
              "decode_attention",
              "row " + std::to_string(r) + ": " + std::to_string(count) + " keys in " +
                  std::to_string(keys.blocks_per_row) + " blocks of " + std::to_string(block));
      const auto first = r * static_cast<std::size_t>(keys.blocks_per_row);
      const auto used = static_cast<std::size_t>((count + block - 1) / block);
      for (std::size_t b = first; b < first + used; ++b) {
        require(keys.block_table[b] >= 0 && keys.block_table[b] < blocks, "decode_attention",
                "row " + std::to_string(r) + ": block " + std::to_string(keys.block_table[b]) +
                    " outside the cache's " + std::to_string(blocks));
      }
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
