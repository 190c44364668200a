// The distributed model computes what one rank computes. Run under mpirun with a layout
// (--tp T --pp P --dp D); for every reference fixture, on every rank:
//  - the bytes it read from the checkpoint are exactly its share: the sharded tensors divided
//    by tp (its layers only), plus the norms it replicates, plus its vocabulary slice of the
//    embedding (first stage) and head (last stage), computed here from config.json alone;
//  - its replica's prompts (prompt i goes to replica i % dp) give the same 32 greedy tokens
//    as the single-rank model and as Hugging Face, and, on the last stage, logits within
//    1e-5 relative of the single-rank model at every prompt position and greedy step;
//  - all prompts decoded together in one batch give the same tokens and logits.
// With --staged, the model's TP and PP groups are host-staged communicators over the same MPI
// groups (the CUDA backend's path where ranks share a GPU), which must change nothing here.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "layout_check.hpp"
#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/dist/host_staged_comm.hpp"
#include "llmpi/dist/mpi.hpp"
#include "llmpi/dist/topology.hpp"
#include "llmpi/engine/generator.hpp"
#include "llmpi/model/transformer.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

namespace {

constexpr double kTolerance = 1e-5;

// A StripedHyena 2 layer's share: its attention heads or Hyena channels (filters of whole
// groups), its MLP columns, the replicated norms, the row-parallel bias on TP rank 0.
std::int64_t striped_hyena2_layer_elements(const ModelConfig& c, const ModelShard& s, int layer) {
  const std::int64_t h = c.hidden_size;
  const bool rank0 = s.tp_rank == 0;
  std::int64_t elements = 2 * h + 3 * h * s.intermediate_count + (rank0 ? h : 0);
  const MixerKind kind = c.mixer(layer);
  if (kind == MixerKind::attention) {
    const std::int64_t q = s.heads.q_count * c.head_dim;
    return elements + 3 * q * h + h * q;
  }
  const std::int64_t channels = s.hyena_channel_count;
  const HyenaConfig& f = c.hyena;
  elements += 3 * channels * h + 3 * channels * f.short_filter_length + h * channels;
  const std::int64_t groups = channels / c.hyena_group_width(kind);
  switch (kind) {
    case MixerKind::hyena_short:
      return elements + groups * f.hcs_filter_length;
    case MixerKind::hyena_medium:
      return elements + groups * f.hcm_filter_length + channels;
    case MixerKind::hyena_long:
      return elements + 2 * channels * f.state_size + channels;
    case MixerKind::attention:
      break;
  }
  return elements;
}

std::size_t expected_bytes(const ModelConfig& c, const ModelShard& s, std::size_t element) {
  const std::int64_t h = c.hidden_size;
  const std::int64_t hd = c.head_dim;
  const std::int64_t q = s.heads.q_count * hd;
  const std::int64_t kv = s.heads.kv_count * hd;
  const std::int64_t inter = s.intermediate_count;
  const bool rank0 = s.tp_rank == 0;
  const bool swiglu = c.mlp == MlpKind::swiglu;
  std::int64_t layer = h * (q + 2 * kv) + h * q + (swiglu ? 3 : 2) * h * inter;  // sharded
  if (c.attention_bias) layer += q + 2 * kv;
  if (c.output_bias && rank0) layer += h;
  if (c.mlp_bias) layer += (swiglu ? 2 : 1) * inter + (rank0 ? h : 0);
  const std::int64_t norm = c.norm == NormKind::layer_norm ? 2 * h : h;  // replicated
  layer += norm * (c.separate_mlp_norm ? 2 : 1);
  std::int64_t total = layer * s.layer_count();
  if (c.architecture == Architecture::striped_hyena2) {
    total = 0;
    for (int i = s.layer_begin; i < s.layer_end; ++i) {
      total += striped_hyena2_layer_elements(c, s, i);
    }
  }
  const std::int64_t vocab_slice = s.vocab_count * h;
  if (s.first_stage()) total += vocab_slice;
  if (s.first_stage() && rank0 && c.position_encoding == PositionEncoding::learned) {
    total += std::int64_t{c.max_position_embeddings} * h;  // whole, on TP rank 0
  }
  if (s.last_stage()) {
    total += norm;
    if (!c.tie_word_embeddings || !s.first_stage()) total += vocab_slice;
  }
  return static_cast<std::size_t>(total) * element;
}

double max_row_error(const std::vector<float>& actual, const std::vector<float>& expected,
                     std::size_t width) {
  double worst = 0.0;
  for (std::size_t row = 0; row * width < expected.size(); ++row) {
    const auto a = std::span(actual).subspan(row * width, width);
    const auto e = std::span(expected).subspan(row * width, width);
    worst = std::max(worst, relative_error(a, e));
  }
  return worst;
}

int check_fixture(const std::string& name, Topology& topology, const ParallelLayout& layout,
                  bool staged) {
  const ReferenceFixture fixture = load_reference_fixture(name);
  const ModelConfig config = load_model_config(fixture.dir);
  if (!layout_applies(name, config, layout, topology)) return 0;
  const ModelShard shard = make_model_shard(config, layout, topology.coordinates());
  CpuBackend backend;

  Checkpoint checkpoint(fixture.dir);
  const TensorInfo& any = checkpoint.info(
      config.architecture == Architecture::llama            ? "model.norm.weight"
      : config.architecture == Architecture::striped_hyena2 ? "norm.scale"
                                                            : "transformer.ln_f.weight");
  const std::size_t element_size = dtype_size(*any.dtype);
  const std::unique_ptr<Comm> staged_tp = make_host_staged_comm(topology.tp(), backend);
  const std::unique_ptr<Comm> staged_pp = make_host_staged_comm(topology.pp(), backend);
  const ModelComms comms = staged ? ModelComms{staged_tp.get(), staged_pp.get()}
                                  : ModelComms{&topology.tp(), &topology.pp()};
  Transformer model(config, load_model_weights(config, checkpoint, backend, shard), backend, shard,
                    comms);
  int failures = 0;
  const std::size_t read = model.weights().checkpoint_bytes;
  const std::size_t want = expected_bytes(config, shard, element_size);
  if (read != want) {
    std::printf("FAIL %s rank %d: read %zu checkpoint bytes, expected %zu\n", name.c_str(),
                topology.world_rank(), read, want);
    ++failures;
  }

  Checkpoint whole_checkpoint(fixture.dir);
  Transformer reference(config, load_model_weights(config, whole_checkpoint, backend), backend);
  const auto vocab = static_cast<std::size_t>(config.vocab_size);
  double worst = 0.0;
  for (std::size_t p = 0; p < fixture.prompts.size(); ++p) {
    if (static_cast<int>(p % static_cast<std::size_t>(layout.dp)) !=
        topology.coordinates().dp_rank) {
      continue;
    }
    const ReferencePrompt& prompt = fixture.prompts[p];
    const auto length = static_cast<std::int64_t>(prompt.ids.size());
    KvCache cache(backend, config, shard, length);
    const Tensor logits = model.forward(prompt.ids, cache, LogitsFor::every_token);
    KvCache reference_cache(backend, config, length);
    const auto expected =
        backend.download(reference.forward(prompt.ids, reference_cache, LogitsFor::every_token));
    if (shard.last_stage()) {
      const double error = max_row_error(model.full_logits(logits), expected, vocab);
      worst = std::max(worst, error);
      if (error > kTolerance) ++failures;
      // Log-probabilities of each next prompt token (and of the first greedy token at the
      // end), reduced across TP without gathering logits, against a direct log-softmax.
      std::vector<std::int32_t> targets(prompt.ids.begin() + 1, prompt.ids.end());
      targets.push_back(prompt.greedy_ids.front());
      const auto ours = model.log_probs(logits, targets);
      for (std::size_t row = 0; row < targets.size(); ++row) {
        const auto values = std::span(expected).subspan(row * vocab, vocab);
        double max = -INFINITY;
        for (const float v : values) max = std::max<double>(max, v);
        double sum = 0.0;
        for (const float v : values) sum += std::exp(v - max);
        const double direct = values[static_cast<std::size_t>(targets[row])] - max - std::log(sum);
        if (std::fabs(ours[row] - direct) > 1e-4) {
          std::printf("FAIL %s rank %d: log p %.6f, direct %.6f\n", name.c_str(),
                      topology.world_rank(), ours[row], direct);
          ++failures;
        }
      }
    }

    const GenerationOptions options = greedy_options(prompt);
    const GenerationResult ours = generate(model, prompt.ids, options);
    const GenerationResult single = generate(reference, prompt.ids, options);
    if (ours.tokens != single.tokens || ours.tokens != prompt.greedy_ids) {
      std::printf("FAIL %s rank %d prompt %zu: greedy tokens differ\n", name.c_str(),
                  topology.world_rank(), p);
      ++failures;
    }
    // Sampling: the same seed gives the same tokens as one rank.
    GenerationOptions sampled;
    sampled.max_new_tokens = 16;
    sampled.stop_at_eos = false;
    sampled.temperature = 0.8;
    sampled.top_p = 0.95;
    sampled.seed = 7 + p;
    if (generate(model, prompt.ids, sampled).tokens !=
        generate(reference, prompt.ids, sampled).tokens) {
      std::printf("FAIL %s rank %d prompt %zu: sampled tokens differ\n", name.c_str(),
                  topology.world_rank(), p);
      ++failures;
    }
    if (shard.last_stage()) {
      for (std::size_t step = 0; step < ours.step_logits.size(); ++step) {
        const double error = relative_error(ours.step_logits[step], single.step_logits[step]);
        worst = std::max(worst, error);
        if (error > kTolerance) ++failures;
      }
    }
  }
  // Every prompt twice (the copies 7 tokens shorter), continuously batched through one slot
  // fewer than requests (each replica runs all of them): the tokens and logits each gets alone.
  const std::vector<GenerationRequest> requests = greedy_requests_twice(fixture);
  const std::vector<GenerationResult> batch =
      generate_batch(model, requests, {.max_active = static_cast<int>(requests.size()) - 1});
  for (std::size_t p = 0; p < batch.size(); ++p) {
    const auto& greedy = fixture.prompts[p % fixture.prompts.size()].greedy_ids;
    if (batch[p].tokens !=
        std::vector<std::int32_t>(greedy.begin(),
                                  greedy.begin() + requests[p].options.max_new_tokens)) {
      std::printf("FAIL %s rank %d prompt %zu: batched greedy tokens differ\n", name.c_str(),
                  topology.world_rank(), p);
      ++failures;
    }
    if (shard.last_stage()) {
      const GenerationResult alone = generate(reference, requests[p].prompt, requests[p].options);
      for (std::size_t step = 0; step < alone.step_logits.size(); ++step) {
        const double error = relative_error(batch[p].step_logits.at(step), alone.step_logits[step]);
        worst = std::max(worst, error);
        if (error > kTolerance) ++failures;
      }
    }
  }
  // The same batch through a cache sharing prefixes (blocks of 4), twice: each copy of a prompt
  // starts from the blocks its first copy computed, the second pass from the first pass's.
  KvCache shared(model.backend(), model.config(), shard,
                 batch_cache_shape(model.config(), requests, {}).capacity,
                 static_cast<int>(requests.size()), 0, 4, KvCache::PrefixSharing::on);
  for (int pass = 0; pass < 2; ++pass) {
    const std::vector<GenerationResult> reused =
        generate_batch(model, requests, {.block_tokens = 4}, &shared);
    for (std::size_t p = 0; p < reused.size(); ++p) {
      if (reused[p].tokens != batch[p].tokens) {
        std::printf(
            "FAIL %s rank %d prompt %zu pass %d: greedy tokens with a shared prefix differ\n",
            name.c_str(), topology.world_rank(), p, pass);
        ++failures;
      }
      if (shard.last_stage()) {
        for (std::size_t step = 0; step < reused[p].step_logits.size(); ++step) {
          const double error =
              relative_error(reused[p].step_logits[step], batch[p].step_logits.at(step));
          worst = std::max(worst, error);
          if (error > kTolerance) ++failures;
        }
      }
    }
  }
  // A log-likelihood whose context's blocks the batches above computed (a model with Hyena
  // layers shares nothing: its cache refuses prefix sharing, and the results stay the same).
  const bool sharing = shared.shares_prefixes();
  {
    const ReferencePrompt& prompt = fixture.prompts.front();
    const std::span<const std::int32_t> context(prompt.ids.data(), prompt.ids.size() - 2);
    const std::span<const std::int32_t> continuation = std::span(prompt.ids).last(2);
    const double alone = model.continuation_log_likelihood(context, continuation);
    const std::int64_t before = shared.reused_tokens();
    const double reused = model.continuation_log_likelihood(context, continuation, &shared);
    if (std::fabs(reused - alone) > 1e-4 * std::max(1.0, std::fabs(alone)) ||
        (shared.reused_tokens() == before) == sharing) {
      std::printf(
          "FAIL %s rank %d: log-likelihood with a shared prefix %.6f (%lld tokens "
          "reused), alone %.6f\n",
          name.c_str(), topology.world_rank(), reused,
          static_cast<long long>(shared.reused_tokens() - before), alone);
      ++failures;
    }
  }
  if ((shared.reused_tokens() == 0) == sharing) {
    std::printf("FAIL %s rank %d: %s\n", name.c_str(), topology.world_rank(),
                sharing ? "no prompt reused a shared prefix" : "a Hyena model's cache shared");
    ++failures;
  }
  std::printf(
      "rank %d %-24s layers %d..%d heads q %d kv %d vocab rows %lld: read %zu bytes "
      "(expected %zu), max relative logits error vs one rank %.2e\n",
      topology.world_rank(), name.c_str(), shard.layer_begin, shard.layer_end - 1,
      shard.heads.q_count, shard.heads.kv_count, static_cast<long long>(shard.vocab_count), read,
      want, worst);
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  MpiEnvironment mpi;
  const auto [layout, staged] = parse_layout_args(argc, argv);
  const int failures = failures_over_fixtures(layout, [&](const std::string& name, Topology& t) {
    return check_fixture(name, t, layout, staged);
  });
  if (mpi.world_rank() == 0) {
    std::printf("tp=%d pp=%d dp=%d%s: %s (%d failed checks)\n", layout.tp, layout.pp, layout.dp,
                staged ? " (host-staged communicators)" : "",
                failures == 0 ? "same as one rank" : "DIFFERENT", failures);
  }
  return failures == 0 ? 0 : 1;
}
