// Every op of the CUDA backend against the CPU backend (the oracle) on random inputs at real
// layer shapes (Falcon-40B, Llama-2-70B and their tensor-parallel slices). Inputs are rounded
// to bf16 first so both backends see the same numbers; outputs are poisoned with NaN before
// each run so an element no kernel wrote fails. Tolerance: ||gpu - cpu|| / ||cpu|| <= 1e-2.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/backend/fp8_e4m3.hpp"
#include "llmpi/backend/sampling_math.hpp"
#include "llmpi/model/sampler.hpp"

using namespace llmpi;

namespace {

constexpr double kTolerance = 1e-2;

struct HostMatrix {
  std::vector<float> values;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
};

HostMatrix random_matrix(std::int64_t rows, std::int64_t cols, float scale, std::uint32_t seed,
                         float offset = 0.0f) {
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  HostMatrix m{std::vector<float>(static_cast<std::size_t>(rows * cols)), rows, cols};
  for (float& v : m.values) v = bf16_to_f32(f32_to_bf16(offset + normal(generator)));
  return m;
}

// The op under test, written once against the Backend interface; returns its output.
using Op = std::function<Tensor(Backend&, const std::vector<Tensor>&)>;

Tensor output(Backend& backend, std::int64_t rows, std::int64_t cols) {
  Tensor t = backend.allocate(rows, cols);
  if (auto* cuda = dynamic_cast<CudaBackend*>(&backend)) cuda->poison(t);
  return t;
}

Tensor copy_of(Backend& backend, const Tensor& t) {
  Tensor c = backend.allocate(t.rows, t.cols);
  backend.copy_rows(t, c, 0);
  return c;
}

// ||actual - expected|| / ||expected|| within `tolerance`, and no NaN in `actual`; printed.
void check_agreement(const std::string& name, const std::vector<float>& actual,
                     const std::vector<float>& expected, double tolerance) {
  REQUIRE(actual.size() == expected.size());
  std::size_t nans = 0;
  double difference = 0.0;
  double reference = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (std::isnan(actual[i])) ++nans;
    const double d = static_cast<double>(actual[i]) - expected[i];
    difference += d * d;
    reference += static_cast<double>(expected[i]) * expected[i];
  }
  const double error = std::sqrt(difference / reference);
  std::printf("%-58s rel err %.2e  nan %zu\n", name.c_str(), error, nans);
  INFO(name << ": relative error " << error << ", " << nans << " NaN");
  CHECK(nans == 0);
  CHECK(error <= tolerance);
}

void compare(const std::string& name, const std::vector<HostMatrix>& inputs, const Op& op,
             double tolerance = kTolerance) {
  CpuBackend cpu;
  CudaBackend gpu(0);
  std::vector<Tensor> cpu_inputs;
  std::vector<Tensor> gpu_inputs;
  for (const HostMatrix& m : inputs) {
    cpu_inputs.push_back(cpu.upload(m.values, m.rows, m.cols));
    gpu_inputs.push_back(gpu.upload(m.values, m.rows, m.cols));
  }
  const std::vector<float> expected = cpu.download(op(cpu, cpu_inputs));
  check_agreement(name, gpu.download(op(gpu, gpu_inputs)), expected, tolerance);
}

struct LayerShape {
  const char* model;
  int hidden, heads, kv_heads, head_dim, intermediate;
  float theta;
};
constexpr LayerShape kShapes[] = {
    {"falcon-40b", 8192, 128, 8, 64, 32768, 10000.0f},
    {"llama-2-70b", 8192, 64, 8, 128, 28672, 10000.0f},
    {"codellama-70b", 8192, 64, 8, 128, 28672, 1000000.0f},
    {"falcon-7b", 4544, 71, 1, 64, 18176, 10000.0f},
};

std::string label(const LayerShape& s, const std::string& op, std::int64_t tokens) {
  return std::string(s.model) + " " + op + " tokens=" + std::to_string(tokens);
}

}  // namespace

TEST_CASE("linear (cuBLAS bf16, fp32 accumulation) matches the CPU", "[gpu][ops]") {
  struct Case {
    std::int64_t tokens, in, out;
    bool bias;
  };
  // Q/K/V of Llama-2-70B, an 8-way slice of its MLP down projection, Falcon-40B's KV slice.
  for (const Case c : {Case{1, 8192, 10240, false}, Case{64, 8192, 1280, true},
                       Case{7, 3584, 8192, false}, Case{128, 8192, 1152, true}}) {
    std::vector<HostMatrix> inputs = {random_matrix(c.tokens, c.in, 1.0f, 1),
                                      random_matrix(c.out, c.in, 0.02f, 2)};
    if (c.bias) inputs.push_back(random_matrix(1, c.out, 0.1f, 3));
    compare("linear " + std::to_string(c.tokens) + "x" + std::to_string(c.in) + " -> " +
                std::to_string(c.out) + (c.bias ? " +bias" : ""),
            inputs, [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor out = output(b, c.tokens, c.out);
              b.linear(in[0], in[1], c.bias ? in[2] : Tensor{}, out);
              return out;
            });
  }
}

TEST_CASE("norms match the CPU", "[gpu][ops]") {
  for (const std::int64_t tokens : {1, 64}) {
    for (const int hidden : {8192, 14848, 4544}) {
      const auto x = random_matrix(tokens, hidden, 2.0f, 4, 0.5f);
      const auto w = random_matrix(1, hidden, 0.1f, 5, 1.0f);
      const auto bias = random_matrix(1, hidden, 0.1f, 6);
      compare("rms_norm hidden=" + std::to_string(hidden) + " tokens=" + std::to_string(tokens),
              {x, w}, [&](Backend& b, const std::vector<Tensor>& in) {
                Tensor out = output(b, tokens, hidden);
                b.rms_norm(in[0], in[1], 1e-5f, out);
                return out;
              });
      compare("layer_norm hidden=" + std::to_string(hidden) + " tokens=" + std::to_string(tokens),
              {x, w, bias}, [&](Backend& b, const std::vector<Tensor>& in) {
                Tensor out = output(b, tokens, hidden);
                b.layer_norm(in[0], in[1], in[2], 1e-5f, out);
                return out;
              });
      // Fused with the residual add: the normed output and the updated residual both compared.
      const auto delta = random_matrix(tokens, hidden, 1.0f, 7);
      const std::string size =
          " hidden=" + std::to_string(hidden) + " tokens=" + std::to_string(tokens);
      for (const bool residual : {false, true}) {
        compare(std::string(residual ? "add_rms_norm residual" : "add_rms_norm") + size,
                {x, delta, w}, [&](Backend& b, const std::vector<Tensor>& in) {
                  Tensor acc = copy_of(b, in[0]);
                  Tensor out = output(b, tokens, hidden);
                  b.add_rms_norm(acc, in[1], in[2], 1e-5f, out);
                  return residual ? acc : out;
                });
        compare(std::string(residual ? "add_layer_norm residual" : "add_layer_norm") + size,
                {x, delta, w, bias}, [&](Backend& b, const std::vector<Tensor>& in) {
                  Tensor acc = copy_of(b, in[0]);
                  Tensor out = output(b, tokens, hidden);
                  b.add_layer_norm(acc, in[1], in[2], in[3], 1e-5f, out);
                  return residual ? acc : out;
                });
      }
    }
  }
}

TEST_CASE("rotary matches the CPU at long positions", "[gpu][ops]") {
  for (const LayerShape& s : kShapes) {
    for (const std::int64_t tokens : {1, 33}) {
      const auto x =
          random_matrix(tokens, static_cast<std::int64_t>(s.heads) * s.head_dim, 1.0f, 7);
      std::vector<std::int32_t> positions;
      for (std::int64_t t = 0; t < tokens; ++t)
        positions.push_back(static_cast<std::int32_t>(4000 + 3 * t));
      compare(label(s, "rotary", tokens), {x}, [&](Backend& b, const std::vector<Tensor>& in) {
        Tensor y = copy_of(b, in[0]);
        b.rotary(y, s.head_dim, positions, s.theta);
        return y;
      });
    }
  }
}

TEST_CASE("the fused q/k/v split, rotary and cache write matches the CPU's three ops",
          "[gpu][ops]") {
  // The CPU runs Backend's composition (split_qkv, rotary, scatter_rows); the GPU its one
  // kernel. Long positions, cache rows out of order; q, keys and values each compared.
  for (const LayerShape& s : kShapes) {
    for (const std::int64_t tokens : {1, 33}) {
      const std::int64_t q_cols = static_cast<std::int64_t>(s.heads) * s.head_dim;
      const std::int64_t kv_cols = static_cast<std::int64_t>(s.kv_heads) * s.head_dim;
      const auto fused = random_matrix(tokens, q_cols + 2 * kv_cols, 1.0f, 8);
      const auto cache = random_matrix(128, kv_cols, 1.0f, 9);
      std::vector<std::int32_t> positions;
      std::vector<std::int32_t> rows;
      for (std::int64_t t = 0; t < tokens; ++t) {
        positions.push_back(static_cast<std::int32_t>(4000 + 3 * t));
        rows.push_back(static_cast<std::int32_t>((77 * t + 5) % 128));
      }
      // theta 0: learned positions (GPT-2), a split and a cache write with no rotation.
      for (const float theta : {s.theta, 0.0f}) {
        for (const int part : {0, 1, 2}) {
          const char* names[] = {"qkv_into_cache q", "qkv_into_cache keys",
                                 "qkv_into_cache values"};
          compare(label(s, names[part], tokens) + (theta == 0.0f ? " unrotated" : ""),
                  {fused, cache}, [&](Backend& b, const std::vector<Tensor>& in) {
                    Tensor q = output(b, tokens, q_cols);
                    Tensor keys = copy_of(b, in[1]);
                    Tensor values = copy_of(b, in[1]);
                    b.qkv_into_cache(in[0], s.head_dim, positions, theta, 1.0f, rows, q, keys,
                                     values);
                    return part == 0 ? q : part == 1 ? keys : values;
                  });
        }
      }
    }
  }
}

TEST_CASE("attention (prefill, chunked prefill, split decode) matches the CPU", "[gpu][ops]") {
  struct Case {
    std::int64_t tokens, start;
  };
  for (const LayerShape& s : kShapes) {
    for (const Case c : {Case{64, 0}, Case{16, 500}, Case{1, 4095}, Case{4, 1023}}) {
      const std::int64_t capacity = c.start + c.tokens;
      const std::int64_t kv_cols = static_cast<std::int64_t>(s.kv_heads) * s.head_dim;
      const auto q =
          random_matrix(c.tokens, static_cast<std::int64_t>(s.heads) * s.head_dim, 1.0f, 8);
      const auto k = random_matrix(capacity, kv_cols, 1.0f, 9);
      const auto v = random_matrix(capacity, kv_cols, 1.0f, 10);
      compare(label(s, "attention start=" + std::to_string(c.start), c.tokens), {q, k, v},
              [&](Backend& b, const std::vector<Tensor>& in) {
                Tensor out = output(b, c.tokens, in[0].cols);
                b.attention(in[0], in[1], in[2], s.heads, s.kv_heads, s.head_dim, c.start, out);
                return out;
              });
    }
  }
}

TEST_CASE("batched paged decode attention, the cache scatter and gather match the CPU",
          "[gpu][ops]") {
  // 8 sequences of up to 4096 tokens at very different lengths (1 .. 4096 keys) in a pool of
  // 64-token blocks handed out shuffled, as a decode step of the batching generator sees them.
  constexpr int kBlock = 64;
  constexpr int kBlocksPerRow = 4096 / kBlock;
  const std::vector<std::int32_t> counts = {1, 4096, 17, 1000, 2, 333, 4095, 64};
  const auto rows = static_cast<std::int64_t>(counts.size());
  const std::int64_t pool_rows = rows * kBlocksPerRow * kBlock;
  std::vector<std::int32_t> blocks(static_cast<std::size_t>(rows * kBlocksPerRow));
  for (std::size_t b = 0; b < blocks.size(); ++b) blocks[b] = static_cast<std::int32_t>(b);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937(23));
  std::vector<std::int32_t> cache_rows;  // each row's newest key
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int32_t last = counts[static_cast<std::size_t>(r)] - 1;
    cache_rows.push_back(blocks[static_cast<std::size_t>(r * kBlocksPerRow + last / kBlock)] *
                             kBlock +
                         last % kBlock);
  }
  std::vector<std::int32_t> history;  // row 3's keys in order: what a prefill gathers
  for (std::int32_t j = 0; j < counts[3]; ++j) {
    history.push_back(blocks[static_cast<std::size_t>(3 * kBlocksPerRow + j / kBlock)] * kBlock +
                      j % kBlock);
  }
  const PagedKeys paged{blocks, kBlocksPerRow, kBlock, counts};
  for (const LayerShape& s : kShapes) {
    const std::int64_t kv_cols = static_cast<std::int64_t>(s.kv_heads) * s.head_dim;
    const auto q = random_matrix(rows, static_cast<std::int64_t>(s.heads) * s.head_dim, 1.0f, 18);
    const auto k = random_matrix(pool_rows, kv_cols, 1.0f, 19);
    const auto v = random_matrix(pool_rows, kv_cols, 1.0f, 20);
    compare(label(s, "decode_attention 8 sequences, paged", rows), {q, k, v},
            [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor out = output(b, rows, in[0].cols);
              b.decode_attention(in[0], in[1], in[2], s.heads, s.kv_heads, s.head_dim, paged, out);
              return out;
            });
    const auto new_keys = random_matrix(rows, kv_cols, 1.0f, 21);
    compare(label(s, "scatter_rows into the cache", rows), {new_keys, k},
            [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor cache = copy_of(b, in[1]);
              b.scatter_rows(in[0], cache, cache_rows);
              return cache;
            });
    compare(label(s, "gather_rows out of the cache", static_cast<std::int64_t>(history.size())),
            {k}, [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor out = output(b, static_cast<std::int64_t>(history.size()), kv_cols);
              b.gather_rows(in[0], history, out);
              return out;
            });
  }
}

TEST_CASE("activations, residual add, split and embedding match the CPU", "[gpu][ops]") {
  for (const std::int64_t tokens : {1, 64}) {
    const std::string t = " tokens=" + std::to_string(tokens);
    const auto gate_up = random_matrix(tokens, 2 * 3584, 2.0f, 11);
    for (const GateActivation activation :
         {GateActivation::silu, GateActivation::gelu, GateActivation::identity}) {
      const std::string name = "gated_mul " + std::to_string(static_cast<int>(activation));
      compare(name + " width=3584" + t, {gate_up}, [&](Backend& b, const std::vector<Tensor>& in) {
        Tensor out = output(b, tokens, 3584);
        b.gated_mul(in[0], activation, out);
        return out;
      });
    }
    compare("gelu width=4096" + t, {random_matrix(tokens, 4096, 2.0f, 12)},
            [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor y = copy_of(b, in[0]);
              b.gelu(y);
              return y;
            });
    compare("gelu_tanh width=4096" + t, {random_matrix(tokens, 4096, 2.0f, 15)},
            [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor y = copy_of(b, in[0]);
              b.gelu_tanh(y);
              return y;
            });
    compare("add hidden=8192" + t,
            {random_matrix(tokens, 8192, 1.0f, 13), random_matrix(tokens, 8192, 1.0f, 14)},
            [&](Backend& b, const std::vector<Tensor>& in) {
              Tensor y = copy_of(b, in[0]);
              b.add(y, in[1]);
              return y;
            });
    // Falcon-40B: 128 query heads and 2 x 8 KV heads of 64; each part compared on its own.
    const auto fused = random_matrix(tokens, 9216, 1.0f, 15);
    for (int part = 0; part < 3; ++part) {
      compare("split_qkv 8192|512|512 part " + std::to_string(part) + t, {fused},
              [&](Backend& b, const std::vector<Tensor>& in) {
                Tensor parts[] = {output(b, tokens, 8192), output(b, tokens, 512),
                                  output(b, tokens, 512)};
                b.split_qkv(in[0], parts[0], parts[1], parts[2]);
                return parts[part];
              });
    }
  }
  // A vocabulary-parallel slice: rows [4096, 8192); other ids give zero rows.
  std::vector<std::int32_t> ids = {4096, 4113, 8191, 17, 6144, 4097};
  compare("embedding vocab slice 4096..8192 hidden=8192", {random_matrix(4096, 8192, 1.0f, 16)},
          [&](Backend& b, const std::vector<Tensor>& in) {
            Tensor out = output(b, static_cast<std::int64_t>(ids.size()), 8192);
            b.embedding(ids, in[0], 4096, out);
            return out;
          });
}

TEST_CASE("argmax picks the same token as the CPU, ties to the lowest index", "[gpu][ops]") {
  CpuBackend cpu;
  CudaBackend gpu(0);
  auto logits = random_matrix(8, 65024, 3.0f, 17);
  logits.values[3 * 65024 + 100] = 50.0f;  // a tie between 100 and 200 in row 3
  logits.values[3 * 65024 + 200] = 50.0f;
  const auto expected = cpu.max_rows(cpu.upload(logits.values, 8, 65024));
  const auto actual = gpu.max_rows(gpu.upload(logits.values, 8, 65024));
  for (std::size_t row = 0; row < expected.size(); ++row) {
    CHECK(actual[row].index == expected[row].index);
    CHECK(actual[row].value == expected[row].value);
  }
  CHECK(actual[3].index == 100);
}

TEST_CASE("log-softmax row summaries match the CPU", "[gpu][ops]") {
  CpuBackend cpu;
  CudaBackend gpu(0);
  // Falcon's vocabulary split 8 ways, and whole; targets inside, at the edges and outside.
  for (const std::int64_t cols : {8128, 65024}) {
    const auto logits = random_matrix(5, cols, 4.0f, 22);
    const std::vector<std::int32_t> targets = {0, static_cast<std::int32_t>(cols - 1), 17, -1,
                                               static_cast<std::int32_t>(cols)};
    const auto expected = cpu.log_softmax_rows(cpu.upload(logits.values, 5, cols), targets);
    const auto actual = gpu.log_softmax_rows(gpu.upload(logits.values, 5, cols), targets);
    REQUIRE(actual.size() == expected.size());
    for (std::size_t r = 0; r < expected.size(); ++r) {
      INFO("cols " << cols << " row " << r);
      CHECK(actual[r].max == expected[r].max);  // bf16 inputs: the maximum is exact
      CHECK(std::fabs(actual[r].sum_exp - expected[r].sum_exp) <= 1e-3 * expected[r].sum_exp);
      CHECK(actual[r].target == expected[r].target);
    }
  }
}

TEST_CASE("nucleus sampling's passes and draws match the CPU", "[gpu][ops][sampling]") {
  CpuBackend cpu;
  CudaBackend gpu(0);
  // Llama's vocabulary and Falcon's, whole; logits rounded to bf16 so both see the same numbers.
  for (const std::int64_t cols : {32000, 65024}) {
    const std::int64_t rows = 64;
    const auto logits = random_matrix(rows, cols, 3.0f, 31);
    const Tensor on_cpu = cpu.upload(logits.values, rows, cols);
    const Tensor on_gpu = gpu.upload(logits.values, rows, cols);
    std::vector<float> row_max;
    for (const RowMax& best : cpu.max_rows(on_cpu)) row_max.push_back(best.value);

    // The histogram of the first round, and of a round under a prefix (each row's own top byte).
    for (const int prefix_bits : {0, 8}) {
      std::vector<std::uint32_t> prefix(static_cast<std::size_t>(rows), 0);
      if (prefix_bits == 8) {
        for (std::size_t r = 0; r < prefix.size(); ++r)
          prefix[r] = sampling::sortable_key(row_max[r]) & 0xff000000u;
      }
      std::vector<std::uint64_t> expected(static_cast<std::size_t>(rows) * sampling::kBins);
      std::vector<std::uint64_t> actual(expected.size(), 1);
      cpu.mass_histogram(on_cpu, row_max, 1.25f, prefix, prefix_bits, expected);
      gpu.mass_histogram(on_gpu, row_max, 1.25f, prefix, prefix_bits, actual);
      double worst = 0.0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        // expf differs by an ulp or two between the two: relative 1e-5 per bin, or 64 units.
        const double difference =
            std::fabs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
        worst = std::max(worst, difference / std::max(1.0, static_cast<double>(expected[i])));
        CHECK(difference <= std::max(64.0, 1e-5 * static_cast<double>(expected[i])));
      }
      std::printf("mass_histogram cols %-6lld prefix %2d bits: worst relative bin error %.2e\n",
                  static_cast<long long>(cols), prefix_bits, worst);
    }

    // Whole draws, top_p 0.9 at T 0.8: the same token unless two Gumbel keys sit within float
    // rounding of each other (or of the nucleus boundary).
    std::vector<SeededRandom> cpu_streams;
    std::vector<SeededRandom> gpu_streams;
    for (std::int64_t r = 0; r < rows; ++r) {
      cpu_streams.emplace_back(1000 + static_cast<std::uint64_t>(r));
      gpu_streams.emplace_back(1000 + static_cast<std::uint64_t>(r));
    }
    int same = 0;
    for (int draw = 0; draw < 4; ++draw) {
      const auto expected = sample_rows(cpu, nullptr, on_cpu, 0, 0.8, 0.9, cpu_streams);
      const auto actual = sample_rows(gpu, nullptr, on_gpu, 0, 0.8, 0.9, gpu_streams);
      for (std::size_t r = 0; r < expected.size(); ++r) same += actual[r] == expected[r] ? 1 : 0;
    }
    std::printf("sample_rows cols %-6lld: %d of %lld draws identical to the CPU's\n",
                static_cast<long long>(cols), same, static_cast<long long>(4 * rows));
    CHECK(same >= 4 * rows - 2);
  }
}

TEST_CASE("Hyena operators match the CPU, outputs and updated states", "[gpu][ops][evo2]") {
  // Evo2-40B's channels on one of tp=4 ranks (2048). Each case runs two calls on fp32 states that
  // start at zero, as a sequence's prefill then its next step would: the second call's output
  // and the states after it are compared. Runs longer and shorter than a filter's memory, several
  // in one call, and a 300-token prefill continued by a 3-sequence decode step.
  const std::int64_t channels = 2048;
  struct Case {
    std::vector<std::int32_t> first, second;  // slots of each call's rows
  };
  const Case cases[] = {{std::vector<std::int32_t>(300, 1), {2, 0, 1}},
                        {{2, 2, 0, 0, 0, 0, 0, 1, 1, 1}, {0, 0, 0, 2, 1, 1}}};
  for (const Case& c : cases) {
    const auto rows_of = [](const std::vector<std::int32_t>& s) {
      return static_cast<std::int64_t>(s.size());
    };
    const std::string t =
        " rows=" + std::to_string(c.first.size()) + "+" + std::to_string(c.second.size());
    for (const int taps : {3, 7, 128}) {
      const int width = taps == 3 ? 1 : 16;
      const HostMatrix x1 = random_matrix(rows_of(c.first), channels, 1.0f, 21);
      const HostMatrix x2 = random_matrix(rows_of(c.second), channels, 1.0f, 22);
      const HostMatrix filter = random_matrix(channels / width, taps, 0.3f, 23);
      const HostMatrix skip = random_matrix(1, channels, 1.0f, 24);
      for (const bool want_state : {false, true}) {
        compare("causal_conv taps=" + std::to_string(taps) + (want_state ? " state" : "") + t,
                {x1, x2, filter, skip}, [&](Backend& b, const std::vector<Tensor>& in) {
                  Tensor state = b.allocate_state(3, (taps - 1) * channels);
                  const Tensor no_skip;
                  const Tensor& d = taps == 128 ? in[3] : no_skip;
                  Tensor out1 = output(b, rows_of(c.first), channels);
                  b.causal_conv(in[0], in[2], width, d, state, c.first, out1);
                  Tensor out2 = output(b, rows_of(c.second), channels);
                  b.causal_conv(in[1], in[2], width, d, state, c.second, out2);
                  return want_state ? state : out2;
                });
      }
    }
    // Poles near 1 (log -1e-3) as the long-range filters have, where a state rounded at each
    // call would drift, and faster ones.
    for (const float log_pole : {-1e-3f, -1.0f}) {
      const HostMatrix u1 = random_matrix(rows_of(c.first), channels, 1.0f, 25);
      const HostMatrix u2 = random_matrix(rows_of(c.second), channels, 1.0f, 26);
      const HostMatrix log_poles =
          random_matrix(channels, 16, std::fabs(log_pole) * 0.3f, 27, log_pole);
      const HostMatrix residues = random_matrix(channels, 16, 0.3f, 28);
      const HostMatrix skip = random_matrix(1, channels, 1.0f, 29);
      for (const bool want_state : {false, true}) {
        compare("modal_scan poles=16 log p~" + std::to_string(log_pole) +
                    (want_state ? " state" : "") + t,
                {u1, u2, log_poles, residues, skip},
                [&](Backend& b, const std::vector<Tensor>& in) {
                  Tensor state = b.allocate_state(3, channels * 16);
                  Tensor out1 = output(b, rows_of(c.first), channels);
                  b.modal_scan(in[0], in[2], in[3], in[4], state, c.first, out1);
                  Tensor out2 = output(b, rows_of(c.second), channels);
                  b.modal_scan(in[1], in[2], in[3], in[4], state, c.second, out2);
                  return want_state ? state : out2;
                });
      }
    }
    const std::int64_t rows = rows_of(c.first);
    const HostMatrix zc = random_matrix(rows, 3 * channels, 1.0f, 30);
    const HostMatrix y = random_matrix(rows, channels, 1.0f, 31);
    compare("hyena_input" + t, {zc}, [&](Backend& b, const std::vector<Tensor>& in) {
      Tensor out = output(b, rows, channels);
      b.hyena_input(in[0], out);
      return out;
    });
    compare("hyena_output" + t, {zc, y}, [&](Backend& b, const std::vector<Tensor>& in) {
      Tensor out = output(b, rows, channels);
      b.hyena_output(in[0], in[1], out);
      return out;
    });
  }
}

TEST_CASE("FP8 E4M3 quantisation and row scaling match the CPU", "[gpu][ops][evo2]") {
  // Evo 2's input projections (hidden 8192) at odd batch sizes, and more rows than one block
  // of the tensor-wide reduction has threads. The inputs are bf16, so both backends round the
  // same fp32 products to E4M3: the values and scales must be equal, not merely close.
  for (const std::int64_t rows : {1, 3, 33, 2049}) {
    for (const std::int64_t cols : {std::int64_t{8192}, std::int64_t{80}}) {
      const HostMatrix x = random_matrix(rows, cols, 1.0f, 34);
      const std::string shape = " [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
      for (const Fp8Scaling scaling : {Fp8Scaling::per_tensor, Fp8Scaling::per_row}) {
        const std::string kind = scaling == Fp8Scaling::per_row ? " per row" : " per tensor";
        for (const bool want_scales : {false, true}) {
          compare(
              "quantize_e4m3" + kind + (want_scales ? " scales" : "") + shape, {x},
              [&](Backend& b, const std::vector<Tensor>& in) {
                Tensor quantized = output(b, rows, cols);
                Tensor inverse = b.allocate_state(rows, 1);
                b.quantize_e4m3(in[0], scaling, quantized, inverse);
                return want_scales ? inverse : quantized;
              },
              0.0);
        }
      }
      // Row factors as the model makes them: the inverse scales of another matrix's rows.
      const HostMatrix other = random_matrix(rows, 64, 1.0f, 35);
      compare("scale_rows" + shape, {x, other}, [&](Backend& b, const std::vector<Tensor>& in) {
        Tensor scaled = copy_of(b, in[0]);
        Tensor ignored = output(b, rows, 64);
        Tensor factors = b.allocate_state(rows, 1);
        b.quantize_e4m3(in[1], Fp8Scaling::per_row, ignored, factors);
        b.scale_rows(scaled, factors, 0.25f);
        return scaled;
      });
    }
  }
}

TEST_CASE("FP8 GEMMs (cuBLASLt, E4M3 tensor cores) multiply E4M3 values as the CPU does",
          "[gpu][ops][evo2]") {
  CudaBackend gpu(0);
  if (!gpu.fp8_gemms()) {
    WARN("this GPU has no FP8 tensor cores (compute capability below 8.9): FP8 GEMMs not run");
    return;
  }
  CpuBackend cpu;
  // Exact: small integers are E4M3 values whose products and sums (at most 9 x 256 = 2304)
  // every accumulator holds exactly, so the GPU's bf16 output must be the CPU's fp32 sum
  // rounded to bf16, element by element. A transposed operand or a wrong leading dimension
  // cannot pass this. Shapes: Evo 2 fixtures' projections and Evo2-40B's tp=4 rows.
  constexpr std::int64_t kDepth = 256;
  for (const std::int64_t out_features : {std::int64_t{96}, std::int64_t{6144}}) {
    REQUIRE(gpu.runs_e4m3_linear(out_features, kDepth));
    for (const std::int64_t rows : {1, 3, 33, 128}) {
      std::mt19937 generator(static_cast<std::uint32_t>(rows + out_features));
      std::uniform_int_distribution<int> small(-3, 3);
      const auto integers = [&](std::int64_t r, std::int64_t c) {
        std::vector<float> values(static_cast<std::size_t>(r * c));
        for (float& v : values) v = static_cast<float>(small(generator));
        return values;
      };
      const std::vector<float> x = integers(rows, kDepth);
      const std::vector<float> w = integers(out_features, kDepth);
      Tensor cpu_out = cpu.allocate(rows, out_features);
      cpu.linear(cpu.upload(x, rows, kDepth), cpu.upload(w, out_features, kDepth), Tensor{},
                 cpu_out);
      // E4M3 tensors from the host: upload_weight is the way in for both operands.
      Tensor gpu_out = output(gpu, rows, out_features);
      gpu.linear(gpu.upload_weight(x, rows, kDepth, DType::e4m3),
                 gpu.upload_weight(w, out_features, kDepth, DType::e4m3), Tensor{}, gpu_out);
      const std::vector<float> expected = cpu.download(cpu_out);
      const std::vector<float> actual = gpu.download(gpu_out);
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < expected.size(); ++i) {
        mismatches += bf16_to_f32(f32_to_bf16(expected[i])) != actual[i] ? 1 : 0;
      }
      std::printf("fp8 linear exact [%lld, %lld] x [%lld, %lld]^T: %zu of %zu differ\n",
                  static_cast<long long>(rows), static_cast<long long>(kDepth),
                  static_cast<long long>(out_features), static_cast<long long>(kDepth), mismatches,
                  expected.size());
      CHECK(mismatches == 0);
    }
  }
  // The model's path at Evo2-40B's tp=4 shape: bf16 activations quantized on the GPU (into
  // E4M3 bytes, and into bf16 for the emulation, which must hold the same values), then the
  // FP8 GEMM against the emulating bf16 GEMM on the same E4M3 values. Fast accumulation keeps
  // about 13 mantissa bits on Hopper, truncated at each step over the depth: estimated 6e-3 to
  // 7e-3 (relative, L2) at depth 8192 with the two bf16 roundings, so the bound is 3e-2.
  constexpr std::int64_t kHidden = 8192;
  constexpr std::int64_t kRows = 6144;
  constexpr double kFastAccumulationTolerance = 3e-2;
  const HostMatrix weight = random_matrix(kRows, kHidden, 0.02f, 36);
  std::vector<float> weight_e4m3 = weight.values;
  float amax = 0.0f;
  for (const float v : weight_e4m3) amax = std::max(amax, std::fabs(v));
  for (float& v : weight_e4m3) v = round_to_e4m3(v * e4m3_scale(amax));
  const Tensor w8 = gpu.upload_weight(weight_e4m3, kRows, kHidden, DType::e4m3);
  const Tensor w16 = gpu.upload_weight(weight_e4m3, kRows, kHidden, DType::bf16);
  for (const std::int64_t rows : {1, 3, 33, 300}) {
    const HostMatrix x = random_matrix(rows, kHidden, 1.0f, 37);
    const Tensor x16 = gpu.upload(x.values, rows, kHidden);
    for (const Fp8Scaling scaling : {Fp8Scaling::per_tensor, Fp8Scaling::per_row}) {
      Tensor q8 = gpu.allocate_e4m3(rows, kHidden);
      Tensor q16 = output(gpu, rows, kHidden);
      Tensor scales8 = gpu.allocate_state(rows, 1);
      Tensor scales16 = gpu.allocate_state(rows, 1);
      gpu.quantize_e4m3(x16, scaling, q8, scales8);
      gpu.quantize_e4m3(x16, scaling, q16, scales16);
      CHECK(gpu.download(q8) == gpu.download(q16));
      CHECK(gpu.download(scales8) == gpu.download(scales16));
      Tensor out8 = output(gpu, rows, kRows);
      Tensor out16 = output(gpu, rows, kRows);
      gpu.linear(q8, w8, Tensor{}, out8);
      gpu.linear(q16, w16, Tensor{}, out16);
      check_agreement(std::string("fp8 linear ") +
                          (scaling == Fp8Scaling::per_row ? "per row" : "per tensor") + " [" +
                          std::to_string(rows) + ", 8192] x [6144, 8192]^T vs bf16 GEMM",
                      gpu.download(out8), gpu.download(out16), kFastAccumulationTolerance);
    }
  }
}

TEST_CASE("RMSNorm with the epsilon on the root matches the CPU", "[gpu][ops][evo2]") {
  const HostMatrix x = random_matrix(33, 8192, 1.0f, 32);
  const HostMatrix w = random_matrix(1, 8192, 0.5f, 33, 1.0f);
  compare("rms_norm eps on root", {x, w}, [&](Backend& b, const std::vector<Tensor>& in) {
    Tensor out = output(b, 33, 8192);
    b.rms_norm(in[0], in[1], 1e-6f, out, RmsEpsilon::on_root);
    return out;
  });
}
