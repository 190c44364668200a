// Evo 2's config (the evo2 yml keys, docs/evo2.md) read as vtx reads it, and the options vtx has
// that the published checkpoints do not use refused by name.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "llmpi/config/model_config.hpp"
#include "llmpi/config/parallel_layout.hpp"
#include "llmpi/core/error.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {

// evo2-40b-1m.yml's keys (evo2 0.6.0), as the converter writes them into config.json.
nlohmann::json evo2_40b() {
  return nlohmann::json::parse(R"({
    "architectures": ["StripedHyena2"], "model_type": "stripedhyena2", "vocab_size": 512,
    "hidden_size": 8192, "num_filters": 8192, "num_layers": 50, "num_attention_heads": 64,
    "proj_groups": 1, "inner_mlp_size": 22528, "eps": 1e-6,
    "hcs_layer_idxs": [0,4,7,11,14,18,21,25,28,32,36,39,43,46],
    "hcm_layer_idxs": [1,5,8,12,15,19,22,26,29,33,37,40,44,47],
    "hcl_layer_idxs": [2,6,9,13,16,20,23,27,30,34,38,41,45,48],
    "attn_layer_idxs": [3,10,17,24,31,35,42,49],
    "short_filter_length": 3, "short_filter_bias": false, "hcs_filter_length": 7,
    "hcs_filter_groups": 512, "hcm_filter_length": 128, "hcm_filter_groups": 512,
    "hcl_filter_groups": 8192, "state_size": 16, "mlp_activation": "gelu",
    "evo2_style_activations": true, "rotary_emb_base": 1000000,
    "use_interpolated_rotary_pos_emb": true, "rotary_emb_scaling_factor": 128,
    "max_seqlen": 1048576, "tie_embeddings": true, "qkv_proj_bias": false,
    "mha_out_proj_bias": true, "hyena_out_proj_bias": true, "interleave": true,
    "column_split": true, "column_split_hyena": false, "hyena_flip_x1x2": false,
    "use_fp8_input_projections": true, "tokenizer_type": "CharLevelTokenizer"})");
}

ModelConfig parse(const nlohmann::json& json) {
  return parse_model_config(json.dump(), "evo2/config.json");
}

}  // namespace

TEST_CASE("Evo2-40B's config: block kinds, Hyena sizes, interpolated rotary", "[config][evo2]") {
  const ModelConfig c = parse(evo2_40b());
  CHECK(c.architecture == Architecture::striped_hyena2);
  CHECK(c.num_layers == 50);
  CHECK(c.head_dim == 128);
  CHECK(c.num_kv_heads == 64);
  CHECK(c.intermediate_size == 22528);
  CHECK(c.norm == NormKind::rms_norm_eps_on_root);
  CHECK(c.mlp == MlpKind::evo2_gated);
  CHECK(c.rope_theta == 1e6f);
  CHECK(c.rope_position_divisor == 128.0f);
  CHECK(c.max_position_embeddings == 1048576);
  CHECK(c.tie_word_embeddings);
  CHECK(c.output_bias);
  CHECK(c.eos_token_ids == std::vector<int>{0});
  CHECK(c.mixer(0) == MixerKind::hyena_short);
  CHECK(c.mixer(1) == MixerKind::hyena_medium);
  CHECK(c.mixer(2) == MixerKind::hyena_long);
  CHECK(c.mixer(3) == MixerKind::attention);
  CHECK(c.mixer(49) == MixerKind::attention);
  CHECK(c.has_recurrent_layers());
  CHECK(c.hyena_group_width(MixerKind::hyena_short) == 16);
  CHECK(c.hyena_group_width(MixerKind::hyena_long) == 1);
  CHECK(c.hyena.state_size == 16);
  // tp splits whole filter groups and heads: every power of two up to 16 here.
  CHECK(valid_tp_values(c, 16) == std::vector<int>{1, 2, 4, 8, 16});
  // Without interpolation the positions are used as they are.
  nlohmann::json plain = evo2_40b();
  plain["use_interpolated_rotary_pos_emb"] = false;
  CHECK(parse(plain).rope_position_divisor == 1.0f);
}

TEST_CASE("Evo 2 configs llmpi cannot run exactly are refused by key", "[config][evo2]") {
  const std::pair<const char*, nlohmann::json> bad[] = {
      {"proj_groups", 2},          {"interleave", false},
      {"column_split", false},     {"hyena_flip_x1x2", true},
      {"short_filter_bias", true}, {"qkv_proj_bias", true},
      {"mlp_activation", "silu"},  {"evo2_style_activations", false},
      {"hcs_filter_groups", 500},  {"num_filters", 4096}};
  for (const auto& [key, value] : bad) {
    nlohmann::json json = evo2_40b();
    json[key] = value;
    INFO(key);
    CHECK_THROWS_WITH(parse(json), Contains("evo2/config.json") && Contains(key));
  }
}

TEST_CASE("Evo 2 layer lists must name every layer exactly once", "[config][evo2]") {
  nlohmann::json twice = evo2_40b();
  twice["attn_layer_idxs"].push_back(0);
  CHECK_THROWS_WITH(parse(twice), Contains("attn_layer_idxs") && Contains("names layer 0"));
  nlohmann::json missing = evo2_40b();
  missing["attn_layer_idxs"].erase(missing["attn_layer_idxs"].size() - 1);
  CHECK_THROWS_WITH(parse(missing), Contains("layer 49 is in none of"));
  nlohmann::json outside = evo2_40b();
  outside["hcl_layer_idxs"].push_back(50);
  CHECK_THROWS_WITH(parse(outside), Contains("hcl_layer_idxs") && Contains("0 .. 49"));
}

TEST_CASE("a tp that splits a Hyena filter group is refused with the valid ones",
          "[config][evo2]") {
  nlohmann::json json = evo2_40b();
  json["hcm_filter_groups"] = 2048;
  json["hcs_filter_groups"] = 6 * 64;  // 384: groups of 21.33 channels do not divide 8192
  CHECK_THROWS_WITH(parse(json), Contains("hcs_filter_groups"));
  json["hcs_filter_groups"] = 4;
  const ModelConfig c = parse(json);
  CHECK(valid_tp_values(c, 16) == std::vector<int>{1, 2, 4});
  CHECK_THROWS_WITH(validate_layout(c, ParallelLayout{8, 1, 1}, 8),
                    Contains("Hyena filter groups") && Contains("valid tp up to 16: 1, 2, 4"));
}
