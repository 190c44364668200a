// The model's side of Backend::run_repeated, which a backend with graphs (CUDA) relies on: a
// decode step hands the ops no index array but the ones it declared (a recording reads those
// from the buffer each replay refills; anything else would be frozen at its first values), its
// shape bounds every row's keys, and a KV cache's recordings are dropped with the cache.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>

#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/engine/generator.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

// The CPU backend, watching the index arrays the model passes while a step runs.
class WatchingBackend : public CpuBackend {
 public:
  Tensor run_repeated(const RepeatedStep& shape,
                      std::span<const std::span<const std::int32_t>> indices,
                      const std::function<Tensor()>& step) override {
    declared_ = indices;
    shape_ = shape;
    ++steps;
    cache_ids.insert(shape.cache_id);
    CHECK(static_cast<std::int64_t>(indices.front().size()) == shape.rows);
    Tensor result = step();
    declared_ = {};
    CHECK(result.rows == (shape.output_cols > 0 ? shape.rows : 0));
    CHECK(result.cols == shape.output_cols);
    return result;
  }
  void forget_repeated(std::uint64_t cache_id) override { forgotten.insert(cache_id); }

  int steps = 0;
  int undeclared = 0;
  std::set<std::uint64_t> cache_ids;
  std::set<std::uint64_t> forgotten;

 protected:
  // The implementations, past Backend's checks: what a backend itself receives.
  void do_embedding(std::span<const std::int32_t> ids, const Tensor& table, std::int64_t first_id,
                    Tensor& out) override {
    expect_declared(ids);
    CpuBackend::do_embedding(ids, table, first_id, out);
  }
  void do_qkv_into_cache(const Tensor& fused, int head_dim, std::span<const std::int32_t> positions,
                         float theta, float position_divisor,
                         std::span<const std::int32_t> cache_rows, Tensor& q, Tensor& k_cache,
                         Tensor& v_cache) override {
    expect_declared(positions);
    expect_declared(cache_rows);
    CpuBackend::do_qkv_into_cache(fused, head_dim, positions, theta, position_divisor, cache_rows,
                                  q, k_cache, v_cache);
  }
  void do_causal_conv(const Tensor& x, const Tensor& taps, int group_width, const Tensor& skip,
                      Tensor& state, std::span<const std::int32_t> slots, Tensor& out) override {
    expect_declared(slots);
    CpuBackend::do_causal_conv(x, taps, group_width, skip, state, slots, out);
  }
  void do_modal_scan(const Tensor& u, const Tensor& log_poles, const Tensor& residues,
                     const Tensor& skip, Tensor& state, std::span<const std::int32_t> slots,
                     Tensor& out) override {
    expect_declared(slots);
    CpuBackend::do_modal_scan(u, log_poles, residues, skip, state, slots, out);
  }
  void do_rotary(Tensor& x, int head_dim, std::span<const std::int32_t> positions, float theta,
                 float position_divisor) override {
    expect_declared(positions);
    CpuBackend::do_rotary(x, head_dim, positions, theta, position_divisor);
  }
  void do_scatter_rows(const Tensor& src, Tensor& dst,
                       std::span<const std::int32_t> rows) override {
    expect_declared(rows);
    CpuBackend::do_scatter_rows(src, dst, rows);
  }
  void do_decode_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                           int num_heads, int num_kv_heads, int head_dim, const PagedKeys& keys,
                           Tensor& out) override {
    expect_declared(keys.block_table);
    expect_declared(keys.key_count);
    if (!declared_.empty()) {
      CHECK(*std::ranges::max_element(keys.key_count) <= shape_.max_keys);
    }
    CpuBackend::do_decode_attention(q, k_cache, v_cache, num_heads, num_kv_heads, head_dim, keys,
                                    out);
  }

 private:
  void expect_declared(std::span<const std::int32_t> values) {
    if (declared_.empty()) return;  // not inside a repeated step
    const bool found = std::ranges::any_of(declared_, [&](std::span<const std::int32_t> array) {
      return array.data() == values.data() && array.size() == values.size();
    });
    if (!found) ++undeclared;
  }

  std::span<const std::span<const std::int32_t>> declared_;
  RepeatedStep shape_;
};

}  // namespace

TEST_CASE("a decode step passes the ops only the index arrays it declares", "[model][graphs]") {
  for (const std::string& name : reference_fixture_names()) {
    DYNAMIC_SECTION(name) {
      const ReferenceFixture fixture = load_reference_fixture(name);
      WatchingBackend backend;
      Transformer model = load_reference_model(fixture, backend);
      const std::vector<GenerationResult> results =
          generate_batch(model, greedy_requests_twice(fixture), {.max_active = 3});
      CHECK(results.front().tokens.size() > 1);
      CHECK(backend.steps > 0);
      CHECK(backend.undeclared == 0);
      // Every cache a step ran on is gone, and the backend was told so.
      CHECK(backend.forgotten == backend.cache_ids);
    }
  }
}

TEST_CASE("a KV cache tells the backend once, when its memory goes", "[model][graphs]") {
  const ReferenceFixture fixture = load_reference_fixture(reference_fixture_names().front());
  WatchingBackend backend;
  const ModelConfig config = load_model_config(fixture.dir);
  std::uint64_t first_id = 0;
  {
    KvCache first(backend, config, 8, 2);
    KvCache second(backend, config, 8, 2);
    first_id = first.id();
    CHECK(first.id() != second.id());
    KvCache moved(std::move(first));
    CHECK(moved.id() == first_id);
    CHECK(backend.forgotten.empty());  // moving hands the memory on; nothing is freed
    second = std::move(moved);         // second's own memory goes now
    CHECK(backend.forgotten.size() == 1);
    CHECK(!backend.forgotten.contains(first_id));
  }
  CHECK(backend.forgotten.size() == 2);
  CHECK(backend.forgotten.contains(first_id));
}
