// The CUDA backend's distributed path computes what one CUDA rank computes. Run under mpirun
// with a layout (--tp T --pp P; every rank on GPU 0, so several ranks share it): the TP and PP
// groups move device tensors through host-staged MPI communicators (NCCL refuses two ranks on
// one GPU). For every reference fixture, on the last stage:
//  - prompt logits within bf16 tolerance (bf16_tolerance: 5e-2 relative error per row, or
//    more for fixtures whose reference moves more in bf16, as the single-rank CUDA test allows
//    against the reference) of the single-rank CUDA model;
//  - the same free-running greedy tokens (as many as the fixture has) as the single-rank
//    CUDA model, unless where they part the single rank itself ranks the two tokens closer
//    than the bf16 error bound (2 x tolerance x the logits' RMS): a flip there is rounding;
//  - all prompts batched together (continuous batching, one slot fewer than requests): the
//    same rule against the single rank's batch.
// Exits 77 (skipped) on every rank when no CUDA device is usable.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "layout_check.hpp"
#include "llmpi/backend/cuda_backend.hpp"
#include "llmpi/dist/host_staged_comm.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/dist/topology.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

// 2 x tolerance x RMS of `logits`: how far apart two logits may move under bf16 rounding.
double bf16_bound(const std::vector<float>& logits, double tolerance) {
  double squares = 0.0;
  for (const float v : logits) squares += static_cast<double>(v) * v;
  return 2.0 * tolerance * std::sqrt(squares / static_cast<double>(logits.size()));
}

// Whether `ours` follows `reference` token for token, or parts from it only at a step where the
// reference's own logits put the two tokens within rounding of a tie. Prints what it finds.
bool same_greedy(const GenerationResult& ours, const GenerationResult& reference, double tolerance,
                 const std::string& what) {
  std::size_t step = 0;
  while (step < ours.tokens.size() && step < reference.tokens.size() &&
         ours.tokens[step] == reference.tokens[step]) {
    ++step;
  }
  if (step == reference.tokens.size() && step == ours.tokens.size()) return true;
  if (step >= reference.step_logits.size() || step >= ours.tokens.size()) {
    std::printf("FAIL %s: %zu tokens, one rank %zu\n", what.c_str(), ours.tokens.size(),
                reference.tokens.size());
    return false;
  }
  const std::vector<float>& logits = reference.step_logits[step];
  const double margin = logits[static_cast<std::size_t>(reference.tokens[step])] -
                        logits[static_cast<std::size_t>(ours.tokens[step])];
  const double bound = bf16_bound(logits, tolerance);
  std::printf(
      "%s %s: greedy tokens part at step %zu (%d, one rank %d); one rank's margin %.4f, "
      "bf16 bound %.4f\n",
      margin < bound ? "note" : "FAIL", what.c_str(), step, ours.tokens[step],
      reference.tokens[step], margin, bound);
  return margin < bound;
}

int check_fixture(const std::string& name, Topology& topology, const ParallelLayout& layout) {
  const ReferenceFixture fixture = load_reference_fixture(name);
  const ModelConfig config = load_model_config(fixture.dir);
  if (!layout_applies(name, config, layout, topology)) return 0;
  const ModelShard shard = make_model_shard(config, layout, topology.coordinates());
  CudaBackend backend(0);
  const std::unique_ptr<Comm> tp = make_host_staged_comm(topology.tp(), backend);
  const std::unique_ptr<Comm> pp = make_host_staged_comm(topology.pp(), backend);
  Checkpoint checkpoint(fixture.dir);
  Transformer model(config, load_model_weights(config, checkpoint, backend, shard), backend, shard,
                    ModelComms{tp.get(), pp.get()});
  Transformer reference = load_reference_model(fixture, backend);

  const double tolerance = bf16_tolerance(fixture);
  int failures = 0;
  double worst = 0.0;
  const auto vocab = static_cast<std::size_t>(config.vocab_size);
  const std::string rank = name + " rank " + std::to_string(topology.world_rank());
  for (std::size_t p = 0; p < fixture.prompts.size(); ++p) {
    const ReferencePrompt& prompt = fixture.prompts[p];
    const auto length = static_cast<std::int64_t>(prompt.ids.size());
    KvCache cache(backend, config, shard, length);
    const Tensor logits = model.forward(prompt.ids, cache, LogitsFor::every_token);
    KvCache reference_cache(backend, config, length);
    const auto expected =
        backend.download(reference.forward(prompt.ids, reference_cache, LogitsFor::every_token));
    if (shard.last_stage()) {
      const std::vector<float> ours = model.full_logits(logits);
      for (std::size_t row = 0; row < prompt.ids.size(); ++row) {
        const double error = relative_error(std::span(ours).subspan(row * vocab, vocab),
                                            std::span(expected).subspan(row * vocab, vocab));
        worst = std::max(worst, error);
        if (error > tolerance) {
          std::printf("FAIL %s prompt %zu row %zu: relative error %.3e\n", rank.c_str(), p, row,
                      error);
          ++failures;
        }
      }
    }
    const GenerationOptions options = greedy_options(prompt);
    const GenerationResult ours = generate(model, prompt.ids, options);
    const GenerationResult single = generate(reference, prompt.ids, options);
    if (shard.last_stage() &&
        !same_greedy(ours, single, tolerance, rank + " prompt " + std::to_string(p))) {
      ++failures;
    }
  }
  const std::vector<GenerationRequest> requests = greedy_requests_twice(fixture);
  const BatchSettings batch_options{.max_active = static_cast<int>(requests.size()) - 1};
  const std::vector<GenerationResult> batch = generate_batch(model, requests, batch_options);
  const std::vector<GenerationResult> single_batch =
      generate_batch(reference, requests, batch_options);
  if (shard.last_stage()) {
    for (std::size_t p = 0; p < batch.size(); ++p) {
      if (!same_greedy(batch[p], single_batch[p], tolerance,
                       rank + " batched request " + std::to_string(p))) {
        ++failures;
      }
    }
    std::printf(
        "rank %d %-28s cuda tp %d pp %d: max relative prompt-logits error vs one CUDA "
        "rank %.2e\n",
        topology.world_rank(), name.c_str(), layout.tp, layout.pp, worst);
  }
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (const auto reason = cuda_unavailable_reason()) {
    std::printf("SKIP: no usable GPU (%s); this check needs a CUDA device\n", reason->c_str());
    return 77;
  }
  MpiEnvironment mpi;
  const ParallelLayout layout = parse_layout_args(argc, argv).layout;
  const int failures = failures_over_fixtures(
      layout, [&](const std::string& name, Topology& t) { return check_fixture(name, t, layout); });
  if (mpi.world_rank() == 0) {
    std::printf("cuda tp=%d pp=%d over host-staged MPI: %s (%d failed checks)\n", layout.tp,
                layout.pp, failures == 0 ? "same as one CUDA rank" : "DIFFERENT", failures);
  }
  return failures == 0 ? 0 : 1;
}
