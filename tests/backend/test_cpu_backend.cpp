// The CPU backend's attention paths against a direct double-precision softmax(QK^T)V: prefill
// through blocked GEMMs (several blocks, a cache already holding earlier tokens, grouped KV
// heads) and the batched decode over per-row key ranges; weights kept in bf16/fp16 against fp32;
// Backend's argument checks, FP8 GEMM operands included.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/dtype.hpp"

using namespace llmpi;

namespace {

std::vector<float> random_values(std::size_t count, std::uint32_t seed) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = normal(generator);
  return values;
}

// Query row `row` of head h attending to cache rows [first, first + count).
std::vector<double> direct(const std::vector<float>& q, const std::vector<float>& k,
                           const std::vector<float>& v, std::int64_t row, int h, int group,
                           int heads, int kv_heads, int head_dim, std::int64_t first,
                           std::int64_t count) {
  const std::int64_t q_cols = static_cast<std::int64_t>(heads) * head_dim;
  const std::int64_t kv_cols = static_cast<std::int64_t>(kv_heads) * head_dim;
  const std::int64_t kv_offset = static_cast<std::int64_t>(h / group) * head_dim;
  std::vector<double> scores(static_cast<std::size_t>(count));
  double max = -INFINITY;
  for (std::int64_t j = 0; j < count; ++j) {
    double dot = 0.0;
    for (int d = 0; d < head_dim; ++d) {
      dot += static_cast<double>(q[static_cast<std::size_t>(row * q_cols + h * head_dim + d)]) *
             k[static_cast<std::size_t>((first + j) * kv_cols + kv_offset + d)];
    }
    scores[static_cast<std::size_t>(j)] = dot / std::sqrt(static_cast<double>(head_dim));
    max = std::max(max, scores[static_cast<std::size_t>(j)]);
  }
  double total = 0.0;
  for (double& s : scores) total += (s = std::exp(s - max));
  std::vector<double> out(static_cast<std::size_t>(head_dim), 0.0);
  for (std::int64_t j = 0; j < count; ++j) {
    for (int d = 0; d < head_dim; ++d) {
      out[static_cast<std::size_t>(d)] +=
          scores[static_cast<std::size_t>(j)] / total *
          v[static_cast<std::size_t>((first + j) * kv_cols + kv_offset + d)];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("CPU prefill attention matches softmax(QK^T)V computed directly", "[backend]") {
  constexpr int kHeads = 8, kKvHeads = 2, kHeadDim = 16, kGroup = kHeads / kKvHeads;
  struct Case {
    std::int64_t tokens, start;
  };
  // One block exactly, several blocks with a ragged end after a filled cache, and the
  // small-count loop path.
  for (const Case c : {Case{64, 0}, Case{150, 37}, Case{5, 20}}) {
    DYNAMIC_SECTION("tokens " << c.tokens << " start " << c.start) {
      const std::int64_t keys = c.start + c.tokens;
      const auto q = random_values(static_cast<std::size_t>(c.tokens * kHeads * kHeadDim), 1);
      const auto k = random_values(static_cast<std::size_t>(keys * kKvHeads * kHeadDim), 2);
      const auto v = random_values(static_cast<std::size_t>(keys * kKvHeads * kHeadDim), 3);
      CpuBackend backend(1);
      const Tensor qt = backend.upload(q, c.tokens, kHeads * kHeadDim);
      const Tensor kt = backend.upload(k, keys, kKvHeads * kHeadDim);
      const Tensor vt = backend.upload(v, keys, kKvHeads * kHeadDim);
      Tensor out = backend.allocate(c.tokens, kHeads * kHeadDim);
      backend.attention(qt, kt, vt, kHeads, kKvHeads, kHeadDim, c.start, out);
      double worst = 0.0;
      for (std::int64_t t = 0; t < c.tokens; ++t) {
        for (int h = 0; h < kHeads; ++h) {
          const auto expected =
              direct(q, k, v, t, h, kGroup, kHeads, kKvHeads, kHeadDim, 0, c.start + t + 1);
          for (int d = 0; d < kHeadDim; ++d) {
            const double got = out.as<float>()[t * out.cols + h * kHeadDim + d];
            worst = std::max(worst, std::fabs(got - expected[static_cast<std::size_t>(d)]));
          }
        }
      }
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE("CPU batched decode attention reads each row's keys through its block table",
          "[backend]") {
  // Blocks of 8 rows in a pool of 8 blocks, handed out of order; unused table entries are 0.
  constexpr int kHeads = 4, kKvHeads = 1, kHeadDim = 8, kBlock = 8, kRows = 64;
  const std::vector<std::int32_t> block_table = {5, 2, 0, 7, 0, 0, 0, 6, 3};
  const std::vector<std::int32_t> key_count = {12, 1, 20};
  const auto q = random_values(3 * kHeads * kHeadDim, 4);
  const auto k = random_values(kRows * kKvHeads * kHeadDim, 5);
  const auto v = random_values(kRows * kKvHeads * kHeadDim, 6);
  CpuBackend backend(1);
  const Tensor keys = backend.upload(k, kRows, kKvHeads * kHeadDim);
  const Tensor values = backend.upload(v, kRows, kKvHeads * kHeadDim);
  Tensor out = backend.allocate(3, kHeads * kHeadDim);
  backend.decode_attention(backend.upload(q, 3, kHeads * kHeadDim), keys, values, kHeads, kKvHeads,
                           kHeadDim, PagedKeys{block_table, 3, kBlock, key_count}, out);
  for (std::int64_t r = 0; r < 3; ++r) {
    // The row's keys in order, gathered by the backend's own gather_rows, then attended directly.
    const std::int32_t count = key_count[static_cast<std::size_t>(r)];
    std::vector<std::int32_t> rows;
    for (std::int32_t j = 0; j < count; ++j) {
      rows.push_back(block_table[static_cast<std::size_t>(r * 3 + j / kBlock)] * kBlock +
                     j % kBlock);
    }
    Tensor row_keys = backend.allocate(count, kKvHeads * kHeadDim);
    Tensor row_values = backend.allocate(count, kKvHeads * kHeadDim);
    backend.gather_rows(keys, rows, row_keys);
    backend.gather_rows(values, rows, row_values);
    const std::vector<float> gathered_k = backend.download(row_keys);
    const std::vector<float> gathered_v = backend.download(row_values);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CHECK(gathered_k[i * kHeadDim] ==
            k[static_cast<std::size_t>(rows[i]) * kHeadDim]);  // gather_rows itself
    }
    for (int h = 0; h < kHeads; ++h) {
      const auto expected =
          direct(q, gathered_k, gathered_v, r, h, kHeads, kHeads, kKvHeads, kHeadDim, 0, count);
      for (int d = 0; d < kHeadDim; ++d) {
        CHECK(std::fabs(out.as<float>()[r * out.cols + h * kHeadDim + d] -
                        expected[static_cast<std::size_t>(d)]) < 1e-5);
      }
    }
  }
  // A block outside the pool, or more keys than the row's blocks hold, is refused.
  std::vector<std::int32_t> outside = block_table;
  outside[0] = 8;
  CHECK_THROWS_WITH(
      backend.decode_attention(backend.upload(q, 3, kHeads * kHeadDim), keys, values, kHeads,
                               kKvHeads, kHeadDim, PagedKeys{outside, 3, kBlock, key_count}, out),
      Catch::Contains("block 8 outside the cache's 8"));
  const std::vector<std::int32_t> too_many = {12, 1, 25};
  CHECK_THROWS_WITH(backend.decode_attention(backend.upload(q, 3, kHeads * kHeadDim), keys, values,
                                             kHeads, kKvHeads, kHeadDim,
                                             PagedKeys{block_table, 3, kBlock, too_many}, out),
                    Catch::Contains("25 keys in 3 blocks of 8"));
}

TEST_CASE("Backend's ops refuse another backend's tensors and say what they expected",
          "[backend]") {
  CpuBackend backend(1);
  Tensor acc = backend.allocate(2, 4);
  // What a CUDA backend's tensor says of itself; a view keeps it.
  Tensor device = backend.allocate(2, 4);
  device.location = MemoryLocation::device;
  device.dtype = DType::bf16;
  CHECK(device.row_range(1, 1).location == MemoryLocation::device);
  CHECK_THROWS_WITH(backend.add(acc, device),
                    Catch::Contains("cpu backend add: x [2, 4] is a device BF16 tensor") &&
                        Catch::Contains("this backend's are host F32"));
  CHECK_THROWS_WITH(backend.download(device.row_range(0, 1)),
                    Catch::Contains("download: tensor [1, 4] is a device BF16 tensor"));
  CHECK_THROWS_WITH(backend.gelu(device), Catch::Contains("gelu"));
  // A missing (empty) tensor where one is required.
  Tensor weight = backend.allocate(1, 4);
  CHECK_THROWS_WITH(backend.layer_norm(acc, weight, Tensor{}, 1e-5f, acc),
                    Catch::Contains("layer_norm: bias [0, 0] is an empty tensor"));
}

namespace {

// A CPU backend that claims FP8 GEMMs: enough to reach Backend's checks of E4M3 operands,
// which otherwise run only on a GPU. It holds E4M3 tensors as bytes and multiplies nothing.
class ClaimsFp8Backend : public CpuBackend {
 public:
  ClaimsFp8Backend() : CpuBackend(1) {}
  bool holds_weights_as(DType) const override { return true; }
  bool runs_e4m3_linear(std::int64_t out_features, std::int64_t in_features) const override {
    return out_features % 16 == 0 && in_features % 16 == 0;
  }

 protected:
  Tensor do_allocate_e4m3(std::int64_t rows, std::int64_t cols) override {
    std::shared_ptr<std::uint8_t[]> bytes(
        new std::uint8_t[static_cast<std::size_t>(rows * cols)]());
    Tensor t;
    t.storage = std::shared_ptr<void>(bytes, bytes.get());
    t.data = bytes.get();
    t.dtype = DType::e4m3;
    t.location = MemoryLocation::host;
    t.rows = rows;
    t.cols = cols;
    return t;
  }
  Tensor do_upload_e4m3(std::span<const std::uint8_t> bits, std::int64_t rows,
                        std::int64_t cols) override {
    Tensor t = do_allocate_e4m3(rows, cols);
    std::copy(bits.begin(), bits.end(), t.as<std::uint8_t>());
    return t;
  }
  void do_linear(const Tensor&, const Tensor&, const Tensor&, Tensor&) override {}
};

}  // namespace

TEST_CASE("FP8 GEMM operands: refused where a backend has no FP8 GEMMs, checked where it has",
          "[backend][fp8]") {
  CpuBackend cpu(1);
  CHECK_FALSE(cpu.holds_weights_as(DType::e4m3));
  CHECK_FALSE(cpu.runs_e4m3_linear(96, 32));
  CHECK_THROWS_WITH(cpu.allocate_e4m3(2, 32),
                    Catch::Contains("cpu backend allocate_e4m3: this backend runs no FP8 GEMMs"));
  // Asked to keep E4M3 weights, the CPU keeps the values in fp32 (it emulates FP8).
  const std::vector<float> values(96 * 32, 1.5f);
  CHECK(cpu.upload_weight(values, 96, 32, DType::e4m3).dtype == DType::f32);
  Tensor out = cpu.allocate(2, 96);
  Tensor stray = cpu.allocate(2, 32);
  stray.dtype = DType::e4m3;  // what another backend's E4M3 tensor says of itself
  CHECK_THROWS_WITH(cpu.linear(stray, cpu.upload(values, 96, 32), Tensor{}, out),
                    Catch::Contains("linear: x [2, 32] is a host F8_E4M3 tensor"));

  ClaimsFp8Backend fp8;
  const Tensor weight = fp8.upload_weight(values, 96, 32, DType::e4m3);
  CHECK(weight.dtype == DType::e4m3);
  std::vector<float> off_grid = values;
  off_grid[37] = 0.3f;
  CHECK_THROWS_WITH(fp8.upload_weight(off_grid, 96, 32, DType::e4m3),
                    Catch::Contains("value 0.300000 at element 37 of [96, 32] is not an E4M3 "
                                    "value"));
  Tensor x8 = fp8.allocate_e4m3(2, 32);
  Tensor out8 = fp8.allocate(2, 96);
  fp8.linear(x8, weight, Tensor{}, out8);  // both E4M3, no bias, a shape it runs: accepted
  CHECK_THROWS_WITH(fp8.linear(fp8.allocate(2, 32), weight, Tensor{}, out8),
                    Catch::Contains("FP8 GEMM of x [2, 32] F32 by weight [96, 32] F8_E4M3"));
  CHECK_THROWS_WITH(fp8.linear(x8, weight, fp8.allocate(1, 96), out8),
                    Catch::Contains("with a bias"));
  const Tensor narrow = fp8.upload_weight(std::vector<float>(40 * 32, 1.0f), 40, 32, DType::e4m3);
  Tensor out40 = fp8.allocate(2, 40);
  CHECK_THROWS_WITH(fp8.linear(x8, narrow, Tensor{}, out40),
                    Catch::Contains("of shapes runs_e4m3_linear accepts"));
  // Only the ops that take E4M3 tensors take them.
  CHECK_THROWS_WITH(fp8.gelu(x8), Catch::Contains("gelu: x [2, 32] is a host F8_E4M3 tensor"));
}

TEST_CASE("split_qkv and qkv_into_cache need keys and values of one width", "[backend]") {
  CpuBackend backend(1);
  std::vector<float> values(2 * 10);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  const Tensor fused = backend.upload(values, 2, 10);
  Tensor q = backend.allocate(2, 4);
  Tensor k = backend.allocate(2, 4);
  Tensor narrow_v = backend.allocate(2, 2);
  CHECK_THROWS_WITH(
      backend.split_qkv(fused, q, k, narrow_v),
      Catch::Contains("cpu backend split_qkv: fused [2, 10] into [2, 4][2, 4][2, 2]"));
  Tensor wide_q = backend.allocate(2, 6);
  Tensor narrow_k = backend.allocate(2, 2);
  backend.split_qkv(fused, wide_q, narrow_k, narrow_v);
  CHECK(backend.download(narrow_k) == std::vector<float>{6, 7, 16, 17});
  CHECK(backend.download(narrow_v) == std::vector<float>{8, 9, 18, 19});

  // The caches: a row outside them is refused before anything is written.
  Tensor k_cache = backend.allocate(4, 2);
  Tensor v_cache = backend.allocate(4, 2);
  const std::vector<std::int32_t> positions = {0, 1};
  const std::vector<std::int32_t> outside = {1, 4};
  CHECK_THROWS_WITH(backend.qkv_into_cache(fused, 2, positions, 10000.0f, 1.0f, outside, wide_q,
                                           k_cache, v_cache),
                    Catch::Contains("qkv_into_cache: cache row 4 outside [4, 2]"));
  CHECK(backend.download(k_cache) == std::vector<float>(8, 0.0f));
  Tensor short_v_cache = backend.allocate(3, 2);
  const std::vector<std::int32_t> rows = {1, 2};
  CHECK_THROWS_WITH(backend.qkv_into_cache(fused, 2, positions, 10000.0f, 1.0f, rows, wide_q,
                                           k_cache, short_v_cache),
                    Catch::Contains("qkv_into_cache"));
  backend.qkv_into_cache(fused, 2, positions, 0.0f, 1.0f, rows, wide_q, k_cache, v_cache);
  CHECK(backend.download(v_cache) == std::vector<float>{0, 0, 8, 9, 18, 19, 0, 0});
}

TEST_CASE("weights kept in bf16 or fp16 multiply as their exact fp32 values", "[backend]") {
  CpuBackend backend;
  // Odd widths reach every tail of the vector loops; 1, 3 and 8 tokens the decode kernel, 9
  // and 33 the widened blocks for GEMM.
  for (const DType stored : {DType::bf16, DType::f16}) {
    for (const std::int64_t k : {7, 64, 77, 200}) {
      const std::int64_t m = 37;
      std::vector<float> weight = random_values(static_cast<std::size_t>(m * k), 11);
      // Values the stored dtype holds exactly, so both sides multiply the same numbers.
      for (float& w : weight) {
        w = stored == DType::bf16 ? bf16_to_f32(f32_to_bf16(w)) : f16_to_f32(f32_to_f16(w));
      }
      const Tensor compact = backend.upload_weight(weight, m, k, stored);
      const Tensor wide = backend.upload(weight, m, k);
      REQUIRE(compact.dtype == stored);
      CHECK(backend.download(compact) == weight);
      for (const std::int64_t n : {1, 3, 8, 9, 33}) {
        DYNAMIC_SECTION(dtype_name(stored) << " k " << k << " tokens " << n) {
          const Tensor x = backend.upload(random_values(static_cast<std::size_t>(n * k), 12), n, k);
          Tensor expected = backend.allocate(n, m);
          Tensor actual = backend.allocate(n, m);
          backend.linear(x, wide, Tensor{}, expected);
          backend.linear(x, compact, Tensor{}, actual);
          const std::vector<float> e = backend.download(expected);
          const std::vector<float> a = backend.download(actual);
          for (std::size_t i = 0; i < e.size(); ++i) {
            CHECK(a[i] == Approx(e[i]).epsilon(1e-5).margin(1e-5));
          }
        }
      }
      // Embedding rows come out widened, exactly.
      const std::vector<std::int32_t> ids{3, 0, 36};
      Tensor rows = backend.allocate(3, k);
      backend.embedding(ids, compact, 0, rows);
      const std::vector<float> got = backend.download(rows);
      for (std::size_t r = 0; r < ids.size(); ++r) {
        for (std::int64_t c = 0; c < k; ++c) {
          CHECK(got[r * static_cast<std::size_t>(k) + static_cast<std::size_t>(c)] ==
                weight[static_cast<std::size_t>(ids[r] * k + c)]);
        }
      }
    }
  }
  // A compact tensor is a weight only: other ops refuse it, naming its dtype.
  const Tensor compact = backend.upload_weight(std::vector<float>(8, 1.0f), 2, 4, DType::bf16);
  Tensor out = backend.allocate(2, 4);
  CHECK_THROWS_WITH(backend.copy_rows(compact, out, 0), Catch::Matchers::Contains("BF16"));
}

TEST_CASE("Hyena ops: a sequence run in pieces through its state equals it run whole",
          "[backend][evo2]") {
  CpuBackend backend;
  const std::int64_t channels = 6;
  const std::int64_t length = 9;
  const std::vector<float> values = random_values(static_cast<std::size_t>(length * channels), 31);
  const Tensor x = backend.upload(values, length, channels);
  // Taps per group of 2 channels (a 4-tap FIR with a skip term), and 3 poles per channel.
  const Tensor taps = backend.upload(random_values(12, 32), 3, 4);
  const Tensor skip = backend.upload(random_values(6, 33), 1, channels);
  std::vector<float> log_p = random_values(18, 34);
  for (float& v : log_p) v = -std::fabs(v);
  const Tensor log_poles = backend.upload(log_p, channels, 3);
  const Tensor residues = backend.upload(random_values(18, 35), channels, 3);

  const auto run = [&](bool modal, const std::vector<std::int64_t>& pieces) {
    Tensor state = backend.allocate_state(2, modal ? channels * 3 : 3 * channels);
    std::vector<float> all;
    std::int64_t first = 0;
    for (const std::int64_t rows : pieces) {
      const Tensor in = x.row_range(first, rows);
      Tensor out = backend.allocate(rows, channels);
      const std::vector<std::int32_t> slots(static_cast<std::size_t>(rows), 1);
      if (modal) {
        backend.modal_scan(in, log_poles, residues, skip, state, slots, out);
      } else {
        backend.causal_conv(in, taps, 2, skip, state, slots, out);
      }
      const std::vector<float> got = backend.download(out);
      all.insert(all.end(), got.begin(), got.end());
      first += rows;
    }
    return all;
  };
  for (const bool modal : {false, true}) {
    INFO((modal ? "modal_scan" : "causal_conv"));
    const std::vector<float> whole = run(modal, {length});
    for (const auto& pieces : {std::vector<std::int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1},
                               std::vector<std::int64_t>{2, 5, 2}}) {
      const std::vector<float> split = run(modal, pieces);
      for (std::size_t i = 0; i < whole.size(); ++i) CHECK(split[i] == Approx(whole[i]));
    }
  }
  // The FIR against its definition: tap k of group c/2 times x k rows back, plus the skip.
  const std::vector<float> fir = run(false, {length});
  const std::vector<float> w = backend.download(taps);
  const std::vector<float> d = backend.download(skip);
  for (std::int64_t t = 0; t < length; ++t) {
    for (std::int64_t c = 0; c < channels; ++c) {
      double want =
          d[static_cast<std::size_t>(c)] * values[static_cast<std::size_t>(t * channels + c)];
      for (std::int64_t k = 0; k < 4 && k <= t; ++k) {
        want += w[static_cast<std::size_t>(c / 2 * 4 + k)] *
                values[static_cast<std::size_t>((t - k) * channels + c)];
      }
      CHECK(fir[static_cast<std::size_t>(t * channels + c)] == Approx(want).epsilon(1e-5));
    }
  }
  // Interleaved slots: a slot whose rows come back after another's is refused; so is out = x.
  Tensor state = backend.allocate_state(3, 3 * channels);
  Tensor out = backend.allocate(3, channels);
  const std::vector<std::int32_t> interleaved{0, 1, 0};
  CHECK_THROWS_WITH(
      backend.causal_conv(x.row_range(0, 3), taps, 2, Tensor{}, state, interleaved, out),
      Catch::Matchers::Contains("slot 0 comes back"));
  Tensor same = backend.allocate(3, channels);
  backend.copy_rows(x.row_range(0, 3), same, 0);
  const std::vector<std::int32_t> one{0, 0, 0};
  CHECK_THROWS_WITH(backend.causal_conv(same, taps, 2, Tensor{}, state, one, same),
                    Catch::Matchers::Contains("out is x"));
}
