#include <catch2/catch.hpp>
#include <filesystem>

#include "llmpi/config/model_config.hpp"
#include "llmpi/core/error.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

TEST_CASE("Llama-2-70B's config.json", "[config]") {
  const auto c = parse_model_config(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192,
    "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64,
    "num_key_value_heads": 8, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
    "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false,
    "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"})",
                                    "llama2-70b/config.json");
  CHECK(c.architecture == Architecture::llama);
  CHECK(c.num_heads == 64);
  CHECK(c.num_kv_heads == 8);
  CHECK(c.head_dim == 128);
  CHECK(c.norm == NormKind::rms_norm);
  CHECK(c.mlp == MlpKind::swiglu);
  CHECK(c.qkv_layout == QkvLayout::separate);
  CHECK_FALSE(c.parallel_attention);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.rope_theta == 10000.0f);
  CHECK(c.eos_token_ids == std::vector<int>{2});
}

TEST_CASE("transformers 5 rope_parameters and CodeLlama's rope_theta", "[config]") {
  const auto c = parse_model_config(R"({
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}})",
                                    "x/config.json");
  CHECK(c.rope_theta == 1e6f);
  CHECK(c.num_kv_heads == 4);  // defaults to the attention heads, as in transformers
}

TEST_CASE("rope scaling variants are refused by name", "[config]") {
  CHECK_THROWS_WITH(parse_model_config(R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "rope_scaling": {"type": "linear", "factor": 2.0}})",
                                       "x/config.json"),
                    Contains("x/config.json") && Contains("rope_scaling") && Contains("'linear'"));
}

TEST_CASE("original Falcon-40B config (RefinedWeb, legacy keys)", "[config]") {
  const auto c = parse_model_config(R"({
    "alibi": false, "apply_residual_connection_post_layernorm": false,
    "architectures": ["RWForCausalLM"], "bias": false, "bos_token_id": 11, "eos_token_id": 11,
    "hidden_size": 8192, "layer_norm_epsilon": 1e-05, "model_type": "RefinedWeb",
    "n_head": 128, "n_head_kv": 8, "n_layer": 60, "parallel_attn": true, "vocab_size": 65024})",
                                    "falcon-40b/config.json");
  CHECK(c.architecture == Architecture::falcon);
  CHECK(c.qkv_layout == QkvLayout::falcon_grouped);
  CHECK(c.num_heads == 128);
  CHECK(c.num_kv_heads == 8);
  CHECK(c.num_layers == 60);
  CHECK(c.head_dim == 64);
  CHECK(c.intermediate_size == 4 * 8192);
  CHECK(c.parallel_attention);
  CHECK(c.separate_mlp_norm);  // ln_attn and ln_mlp
  CHECK(c.tie_word_embeddings);
  CHECK(c.norm == NormKind::layer_norm);
  CHECK(c.mlp == MlpKind::gelu);
}

TEST_CASE("original Falcon-7B config (RefinedWebModel, multi-query)", "[config]") {
  const auto c = parse_model_config(R"({
    "alibi": false, "architectures": ["RWForCausalLM"], "bias": false, "hidden_size": 4544,
    "model_type": "RefinedWebModel", "multi_query": true, "n_head": 71, "n_layer": 32,
    "parallel_attn": true, "vocab_size": 65024})",
                                    "falcon-7b/config.json");
  CHECK(c.qkv_layout == QkvLayout::falcon_multi_query);
  CHECK(c.num_heads == 71);
  CHECK(c.num_kv_heads == 1);
  CHECK(c.head_dim == 64);
  CHECK_FALSE(c.separate_mlp_norm);  // one input_layernorm feeds both branches
}

TEST_CASE("Falcon-180B config as transformers writes it", "[config]") {
  const auto c = parse_model_config(R"({
    "architectures": ["FalconForCausalLM"], "model_type": "falcon", "hidden_size": 14848,
    "num_attention_heads": 232, "num_kv_heads": 8, "num_hidden_layers": 80,
    "new_decoder_architecture": true, "parallel_attn": true, "bias": false, "alibi": false,
    "vocab_size": 65024})",
                                    "falcon-180b/config.json");
  CHECK(c.qkv_layout == QkvLayout::falcon_grouped);
  CHECK(c.num_kv_heads == 8);
  CHECK(c.head_dim == 64);
}

TEST_CASE("Falcon sequential block with biases (no multi-query)", "[config]") {
  const auto c = parse_model_config(R"({"model_type": "falcon", "hidden_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "multi_query": false,
    "parallel_attn": false, "bias": true})",
                                    "x/config.json");
  CHECK(c.qkv_layout == QkvLayout::falcon_interleaved);
  CHECK(c.num_kv_heads == 4);
  CHECK_FALSE(c.parallel_attention);
  CHECK(c.separate_mlp_norm);
  CHECK(c.attention_bias);
  CHECK(c.mlp_bias);
}

TEST_CASE("GPT-2 config: n_* names, transformers' defaults, attention options", "[config]") {
  const ModelConfig c = parse_model_config(R"({"architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 3, "n_inner": null,
    "n_positions": 128, "vocab_size": 256, "activation_function": "gelu",
    "scale_attn_by_inverse_layer_idx": true})",
                                           "m/config.json");
  CHECK(c.architecture == Architecture::gpt2);
  CHECK(c.hidden_size == 64);
  CHECK(c.num_heads == 4);
  CHECK(c.num_kv_heads == 4);
  CHECK(c.head_dim == 16);
  CHECK(c.intermediate_size == 256);  // n_inner null: 4 x n_embd
  CHECK(c.max_position_embeddings == 128);
  CHECK(c.position_encoding == PositionEncoding::learned);
  CHECK(c.qkv_layout == QkvLayout::gpt2_conv1d);
  CHECK(c.norm == NormKind::layer_norm);
  CHECK(c.mlp == MlpKind::gelu);
  CHECK_FALSE(c.parallel_attention);
  CHECK(c.separate_mlp_norm);
  CHECK(c.attention_bias);
  CHECK(c.output_bias);
  CHECK(c.mlp_bias);
  CHECK(c.tie_word_embeddings);  // GPT2Config's default
  CHECK(c.attention_score_factor(0) == 1.0f);
  CHECK(c.attention_score_factor(2) == Approx(1.0f / 3.0f));

  const ModelConfig defaults =
      parse_model_config(R"({"model_type": "gpt2", "scale_attn_weights": false})", "d/config.json");
  CHECK(defaults.hidden_size == 768);
  CHECK(defaults.num_layers == 12);
  CHECK(defaults.vocab_size == 50257);
  CHECK(defaults.max_position_embeddings == 1024);
  CHECK(defaults.mlp == MlpKind::gelu_tanh);                  // gelu_new
  CHECK(defaults.attention_score_factor(5) == Approx(8.0f));  // sqrt(64): no 1/sqrt(d) scaling

  const ModelConfig aliases = parse_model_config(R"({"model_type": "gpt2", "hidden_size": 32,
    "num_attention_heads": 2, "num_hidden_layers": 1, "max_position_embeddings": 16,
    "activation_function": "gelu_pytorch_tanh"})",
                                                 "a/config.json");
  CHECK(aliases.hidden_size == 32);
  CHECK(aliases.num_heads == 2);
  CHECK(aliases.max_position_embeddings == 16);
  CHECK(aliases.mlp == MlpKind::gelu_tanh);
}

TEST_CASE("GPT-2 configs llmpi cannot run are refused by key", "[config][bad-input]") {
  CHECK_THROWS_WITH(parse_model_config(R"({"model_type": "gpt2", "activation_function": "relu"})",
                                       "m/config.json"),
                    Contains("m/config.json") && Contains("activation_function") &&
                        Contains("'relu'") && Contains("gelu_new"));
  CHECK_THROWS_WITH(
      parse_model_config(R"({"model_type": "gpt2", "n_embd": 100, "n_head": 3})", "m/config.json"),
      Contains("'n_embd'") && Contains("not divisible"));
  CHECK_THROWS_WITH(
      parse_model_config(R"({"model_type": "gpt2", "add_cross_attention": true})", "m/config.json"),
      Contains("add_cross_attention") && Contains("decoder-only"));
  CHECK_THROWS_WITH(parse_model_config(R"({"model_type": "gpt_neox"})", "m/config.json"),
                    Contains("unknown model_type 'gpt_neox'") && Contains("GPT2LMHeadModel"));
}

TEST_CASE("config.json errors name the file and the key", "[config][bad-input]") {
  CHECK_THROWS_WITH(parse_model_config("{not json", "m/config.json"),
                    Contains("m/config.json") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse_model_config(R"({"architectures": ["BertModel"]})", "m/config.json"),
                    Contains("unknown architecture 'BertModel'"));
  CHECK_THROWS_WITH(parse_model_config(R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4})",
                                       "m/config.json"),
                    Contains("m/config.json") && Contains("missing key 'intermediate_size'"));
  CHECK_THROWS_WITH(parse_model_config(R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": "64", "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4})",
                                       "m/config.json"),
                    Contains("'hidden_size' must be a positive integer"));
  CHECK_THROWS_WITH(parse_model_config(R"({"model_type": "falcon", "hidden_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "alibi": true})",
                                       "m/config.json"),
                    Contains("ALiBi"));
  CHECK_THROWS_WITH(parse_model_config(R"({"model_type": "falcon", "n_embed": 64,
    "num_hidden_layers": 2})",
                                       "m/config.json"),
                    Contains("missing key 'num_attention_heads' or 'n_head'"));
  CHECK_THROWS_WITH(load_model_config("/nonexistent/model"),
                    Contains("missing /nonexistent/model/config.json"));
  // Fewer hidden units than heads and no head_dim: a head dimension of 0, said as such.
  CHECK_THROWS_WITH(parse_model_config(R"({"architectures": ["LlamaForCausalLM"],
    "hidden_size": 3, "intermediate_size": 8, "num_hidden_layers": 2,
    "num_attention_heads": 4})",
                                       "m/config.json"),
                    Contains("m/config.json") && Contains("head dimension of 0"));
  CHECK_THROWS_WITH(parse_model_config("{\"a\": " + std::string(5000, '[') + "}", "m/config.json"),
                    Contains("m/config.json: JSON nested more than"));
}

TEST_CASE("a config.json that is there but unusable is not called missing", "[config][bad-input]") {
  const auto dir = std::filesystem::temp_directory_path() / "llmpi-config-links";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "looping");
  std::filesystem::create_symlink(dir / "looping" / "config.json", dir / "looping" / "config.json");
  CHECK_THROWS_WITH(load_model_config(dir / "looping"),
                    Contains("config.json") && Contains("symbolic links loop"));
  std::filesystem::create_directories(dir / "directory" / "config.json");
  CHECK_THROWS_WITH(load_model_config(dir / "directory"),
                    Contains("config.json is a directory, not a regular file"));
  std::filesystem::remove_all(dir);
}
