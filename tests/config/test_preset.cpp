#include <catch2/catch.hpp>
#include <filesystem>

#include "llmpi/config/preset.hpp"
#include "llmpi/core/error.hpp"

using namespace llmpi;
using Catch::Matchers::Contains;

namespace {

const std::filesystem::path kPresets = LLMPI_PRESETS_DIR;

std::vector<std::filesystem::path> shipped_presets() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(kPresets)) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// A small valid preset; tests replace one line of it.
std::string tiny_preset(const std::string& extra_top = "", const std::string& tp_line = "  tp: 1") {
  return "name: t\n" + extra_top +
         "dtype: fp32\n"
         "parallel:\n" +
         tp_line +
         "\n"
         "  pp: 1\n"
         "model:\n"
         "  architectures: [LlamaForCausalLM]\n"
         "  hidden_size: 64\n"
         "  intermediate_size: 128\n"
         "  num_hidden_layers: 2\n"
         "  num_attention_heads: 4\n"
         "  num_key_value_heads: 2\n"
         "  max_position_embeddings: 128\n";
}

}  // namespace

TEST_CASE("every shipped preset loads and is consistent", "[preset]") {
  const auto paths = shipped_presets();
  REQUIRE(paths.size() >= 11);
  for (const auto& path : paths) {
    INFO(path.string());
    const Preset preset = load_preset(path);
    CHECK(preset.name == path.stem().string());
    CHECK(preset.source == path.string());
    CHECK(preset.model.source == path.string());
    CHECK(preset.context_length <= preset.model.max_position_embeddings);
    CHECK(tp_fits_heads(preset.model, preset.layout.tp));
    CHECK(preset.layout.pp <= preset.model.num_layers);
    CHECK_FALSE(preset.checkpoint.empty());
    CHECK(std::filesystem::path(preset.checkpoint).is_absolute() ==
          kPresets.is_absolute());  // resolved against the preset's folder
  }
}

TEST_CASE("the tiny presets match their fixtures' config.json", "[preset]") {
  for (const auto& path : shipped_presets()) {
    if (path.stem().string().rfind("tiny-", 0) != 0) continue;
    INFO(path.string());
    const Preset preset = load_preset(path);
    REQUIRE(std::filesystem::is_directory(preset.checkpoint));
    CHECK_NOTHROW(check_checkpoint_matches(preset, load_model_config(preset.checkpoint)));
  }
}

TEST_CASE("a checkpoint that differs from the pinned config is refused by field", "[preset]") {
  const Preset preset = load_preset(kPresets / "tiny-llama-gqa.yaml");
  const ModelConfig other =
      load_model_config(std::filesystem::path(LLMPI_FIXTURES_DIR) / "llama_tied_f16");
  CHECK_THROWS_WITH(check_checkpoint_matches(preset, other),
                    Contains("tiny-llama-gqa.yaml pins key/value heads 2") &&
                        Contains("llama_tied_f16/config.json has 1"));
}

TEST_CASE("the big presets pin the published configs", "[preset]") {
  const Preset codellama = load_preset(kPresets / "codellama-70b.yaml");
  CHECK(codellama.model.vocab_size == 32016);
  CHECK(codellama.model.rope_theta == 1e6f);
  CHECK(codellama.model.max_position_embeddings == 16384);
  CHECK(codellama.context_length == 16384);

  const Preset llama = load_preset(kPresets / "llama-2-70b.yaml");
  CHECK(llama.model.vocab_size == 32000);
  CHECK(llama.model.max_position_embeddings == 4096);
  CHECK(llama.model.num_kv_heads == 8);
  CHECK_FALSE(llama.model.tie_word_embeddings);
  CHECK(llama.dtype == DType::bf16);

  const Preset falcon40 = load_preset(kPresets / "falcon-40b.yaml");
  CHECK(falcon40.model.qkv_layout == QkvLayout::falcon_grouped);
  CHECK(falcon40.model.num_heads == 128);
  CHECK(falcon40.model.tie_word_embeddings);

  const Preset falcon180 = load_preset(kPresets / "falcon-180b.yaml");
  CHECK(falcon180.model.hidden_size == 14848);
  CHECK(falcon180.model.num_heads == 232);
  CHECK(falcon180.model.num_kv_heads == 8);

  const Preset falcon7 = load_preset(kPresets / "falcon-7b.yaml");
  CHECK(falcon7.model.qkv_layout == QkvLayout::falcon_multi_query);
  CHECK(falcon7.model.num_heads == 71);

  const Preset alia = load_preset(kPresets / "alia-40b.yaml");
  CHECK(alia.model.architecture == Architecture::llama);
  CHECK(alia.model.vocab_size == 256000);
  CHECK(alia.model.intermediate_size == 24576);
}

TEST_CASE("preset defaults, verbatim text and checkpoint paths", "[preset]") {
  const std::string text = tiny_preset("checkpoint: ../ckpt/m\n");
  const Preset preset = parse_preset(text, "/p/presets/t.yaml");
  CHECK(preset.yaml_text == text);
  CHECK(preset.checkpoint == "/p/ckpt/m");
  CHECK(preset.dtype == DType::f32);
  CHECK(preset.context_length == 128);  // the model's positions
  CHECK(preset.batch.max_sequences == 64);
  CHECK(preset.batch.max_tokens == 4096);
  CHECK(preset.memory.gpu_fraction == 0.90);
  CHECK(preset.memory.reserve_gib == 1.0);
  CHECK_FALSE(preset.dp_fixed);
  CHECK(parse_preset(tiny_preset("checkpoint: /abs/m\n"), "/p/t.yaml").checkpoint == "/abs/m");
}

TEST_CASE("unknown keys are refused with file and line", "[preset]") {
  CHECK_THROWS_WITH(parse_preset(tiny_preset("paralel: 2\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'paralel' is not a preset key") &&
                        Contains("valid top-level keys: name, description"));
  CHECK_THROWS_WITH(
      parse_preset(tiny_preset("", "  tq: 1"), "x.yaml"),
      Contains("x.yaml:4: key 'parallel.tq' is not a preset key") && Contains("tp, pp, dp"));
  CHECK_THROWS_WITH(
      parse_preset(tiny_preset("memory: {gpu_fraction: 0.8, reserve: 2}\n"), "x.yaml"),
      Contains("x.yaml:2: key 'memory.reserve' is not a preset key"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("dtype: bf16\n"), "x.yaml"),
                    Contains("x.yaml:3: key 'dtype' appears twice (first on line 2)"));
}

TEST_CASE("wrong types are refused with file and line", "[preset]") {
  CHECK_THROWS_WITH(parse_preset(tiny_preset("", "  tp: eight"), "x.yaml"),
                    Contains("x.yaml:4: key 'parallel.tp' must be an integer, got 'eight'"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("", "  tp: \"2\""), "x.yaml"),
                    Contains("x.yaml:4: key 'parallel.tp' must be an integer"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("", "  tp: 1.5"), "x.yaml"),
                    Contains("x.yaml:4: key 'parallel.tp' must be an integer, got '1.5'"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("context_length: [1, 2]\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'context_length' must be an integer, got a list"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("batch: 4\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'batch' must be a map with keys max_sequences"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("memory:\n  gpu_fraction: most\n"), "x.yaml"),
                    Contains("x.yaml:3: key 'memory.gpu_fraction' must be a number, got 'most'"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("description: 12\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'description' must be a string, got '12'"));
}

TEST_CASE("wrong values are refused with what would be valid", "[preset]") {
  std::string int8 = tiny_preset();
  int8.replace(int8.find("fp32"), 4, "int8");
  CHECK_THROWS_WITH(parse_preset(int8, "x.yaml"),
                    Contains("x.yaml:2: key 'dtype' is 'int8'; valid: bf16, fp16, fp32"));
  CHECK_THROWS_WITH(
      parse_preset(tiny_preset("", "  tp: 3"), "x.yaml"),
      Contains("x.yaml:4: key 'parallel.tp' is 3") && Contains("valid tp up to 16: 1, 2, 4"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("context_length: 4096\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'context_length' is 4096; valid: 1 to the model's "
                             "128 positions"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("memory: {gpu_fraction: 1.5}\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'memory.gpu_fraction' is 1.5"));
  CHECK_THROWS_WITH(parse_preset(tiny_preset("batch: {max_tokens: 0}\n"), "x.yaml"),
                    Contains("x.yaml:2: key 'batch.max_tokens' is 0; it must be at least 1"));
}

TEST_CASE("the model section goes through the config.json parser, lines kept", "[preset]") {
  std::string text = tiny_preset();
  text.replace(text.find("hidden_size: 64"), 15, "hidden_size: \"64\"");
  CHECK_THROWS_WITH(parse_preset(text, "x.yaml"),
                    Contains("x.yaml:8: model: key 'hidden_size' must be a positive integer"));
  text = tiny_preset() + "  rope_scaling: {type: linear, factor: 2.0}\n";
  CHECK_THROWS_WITH(parse_preset(text, "x.yaml"),
                    Contains("x.yaml:14: model: key 'rope_scaling' asks for rope type 'linear'"));
  CHECK_THROWS_WITH(parse_preset("name: t\ndtype: bf16\n", "x.yaml"),
                    Contains("x.yaml:1: key 'model' is missing"));
}

TEST_CASE("YAML syntax errors and non-map documents name the file and line", "[preset]") {
  CHECK_THROWS_WITH(parse_preset("name: t\nparallel: [1,\n  2\nmodel: {}\n", "x.yaml"),
                    Contains("x.yaml:") && Contains("not valid YAML"));
  CHECK_THROWS_WITH(parse_preset("- a\n- b\n", "x.yaml"),
                    Contains("x.yaml:1: a preset is a YAML map"));
  CHECK_THROWS_WITH(load_preset("/nonexistent/p.yaml"), Contains("/nonexistent/p.yaml"));
  // Aliases that expand exponentially, and flow collections nested without end: refused at
  // once with the line, never expanded or recursed into.
  std::string bomb = "name: t\nlol0: &l0 [lol, lol]\n";
  for (int level = 1; level < 40; ++level) {
    bomb += "lol" + std::to_string(level) + ": &l" + std::to_string(level) + " [*l" +
            std::to_string(level - 1) + ", *l" + std::to_string(level - 1) + "]\n";
  }
  CHECK_THROWS_WITH(parse_preset(bomb, "bomb.yaml"),
                    Contains("bomb.yaml:") && Contains("more than 100000 nodes"));
  CHECK_THROWS_WITH(parse_preset("model: " + std::string(1000000, '{'), "deep.yaml"),
                    Contains("deep.yaml:1: YAML nested more than 64 levels deep"));
}

TEST_CASE("command-line overrides replace preset values and are validated", "[preset]") {
  Preset preset = load_preset(kPresets / "llama-2-70b.yaml");
  PresetOverrides overrides;
  overrides.tp = 8;
  overrides.pp = 2;
  overrides.dp = 3;
  overrides.context_length = 2048;
  overrides.dtype = "fp16";
  overrides.max_batch_tokens = 1024;
  overrides.max_batch_sequences = 8;
  overrides.gpu_memory_fraction = 0.8;
  overrides.checkpoint = "/elsewhere";
  apply_overrides(preset, overrides);
  CHECK(preset.layout.tp == 8);
  CHECK(preset.layout.pp == 2);
  CHECK(preset.layout.dp == 3);
  CHECK(preset.dp_fixed);
  CHECK(preset.context_length == 2048);
  CHECK(preset.dtype == DType::f16);
  CHECK(preset.batch.max_tokens == 1024);
  CHECK(preset.batch.max_sequences == 8);
  CHECK(preset.memory.gpu_fraction == 0.8);
  CHECK(preset.checkpoint == "/elsewhere");

  PresetOverrides bad_tp;
  bad_tp.tp = 6;
  CHECK_THROWS_WITH(apply_overrides(preset, bad_tp),
                    Contains("--tp is 6") && Contains("64 attention heads") &&
                        Contains("valid tp up to 16: 1, 2, 4, 8, 16"));
  PresetOverrides long_context;
  long_context.context_length = 8192;
  CHECK_THROWS_WITH(apply_overrides(preset, long_context),
                    Contains("--context-length is 8192") && Contains("4096 positions"));
  PresetOverrides bad_dtype;
  bad_dtype.dtype = "f8";
  CHECK_THROWS_WITH(apply_overrides(preset, bad_dtype), Contains("--dtype is 'f8'"));
}

TEST_CASE("the layout of a launch: dp fills the world unless pinned", "[preset]") {
  const Preset preset = load_preset(kPresets / "llama-2-70b.yaml");  // tp=4, dp not pinned
  const ParallelLayout layout = layout_for_world(preset, 16);
  CHECK(layout.tp == 4);
  CHECK(layout.pp == 1);
  CHECK(layout.dp == 4);
  CHECK_THROWS_WITH(layout_for_world(preset, 6),
                    Contains("6 ranks do not split into replicas of tp x pp = 4 x 1 = 4"));
  Preset pinned = preset;
  PresetOverrides overrides;
  overrides.dp = 2;
  apply_overrides(pinned, overrides);
  CHECK_THROWS_WITH(layout_for_world(pinned, 16), Contains("but the job has 16"));
}

TEST_CASE("a preset name resolves to presets/NAME.yaml", "[preset]") {
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(kPresets.parent_path());
  CHECK(resolve_preset_path("falcon-7b") == std::filesystem::path("presets/falcon-7b.yaml"));
  CHECK_THROWS_WITH(resolve_preset_path("falcon-8b"),
                    Contains("preset 'falcon-8b'") && Contains("falcon-7b"));
  std::filesystem::current_path(previous);
}

TEST_CASE("a bare checkpoint gets the default preset", "[preset]") {
  const std::string dir = std::string(LLMPI_FIXTURES_DIR) + "/llama_gqa_f32";
  const Preset preset = preset_from_checkpoint(load_model_config(dir), dir);
  CHECK(preset.name == "llama_gqa_f32");
  CHECK(preset.checkpoint == dir);
  CHECK(preset.context_length == 128);
  CHECK(preset.dtype == DType::bf16);
  CHECK(preset.layout.tp == 1);
  CHECK_THROWS_WITH(
      check_checkpoint_matches(load_preset(kPresets / "tiny-falcon-gqa.yaml"), preset.model),
      Contains("pins architecture falcon but") && Contains("has llama"));
}
