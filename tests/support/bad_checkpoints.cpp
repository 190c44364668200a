#include "bad_checkpoints.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"

namespace llmpi::testing {

namespace fs = std::filesystem;

namespace {

// Applies `change` to the tensors of dir/model.safetensors and writes them back.
void rewrite_tensors(const fs::path& dir,
                     const std::function<void(std::vector<RawTensor>&)>& change) {
  auto tensors = read_raw_tensors(dir / "model.safetensors");
  change(tensors);
  write_safetensors(dir / "model.safetensors", tensors);
}

RawTensor& tensor_named(std::vector<RawTensor>& tensors, const std::string& name) {
  return *std::find_if(tensors.begin(), tensors.end(),
                       [&](const RawTensor& t) { return t.name == name; });
}

void edit_config(const fs::path& dir, const std::function<void(nlohmann::json&)>& change) {
  auto config = nlohmann::json::parse(read_text(dir / "config.json"));
  change(config);
  write_text(dir / "config.json", config.dump(2));
}

}  // namespace

std::vector<BadCheckpoint> bad_checkpoints() {
  return {
      {"missing_config",
       {"missing", "config.json"},
       [](const fs::path& dir) { fs::remove(dir / "config.json"); }},
      {"unknown_architecture",
       {"config.json", "unknown architecture 'GPTNeoXForCausalLM'", "GPT2LMHeadModel"},
       [](const fs::path& dir) {
         edit_config(dir, [](nlohmann::json& c) {
           c["architectures"] = {"GPTNeoXForCausalLM"};
           c["model_type"] = "gpt_neox";
         });
       }},
      {"alibi_refused",
       {"config.json", "alibi", "ALiBi"},
       [](const fs::path& dir) {
         edit_config(dir, [](nlohmann::json& c) {
           c = {{"architectures", {"FalconForCausalLM"}},
                {"model_type", "falcon"},
                {"hidden_size", 64},
                {"num_hidden_layers", 2},
                {"num_attention_heads", 4},
                {"alibi", true},
                {"vocab_size", 256}};
         });
       }},
      {"missing_tensor",
       {"tensor 'model.layers.1.mlp.up_proj.weight' not found"},
       [](const fs::path& dir) {
         rewrite_tensors(dir, [](std::vector<RawTensor>& tensors) {
           std::erase_if(tensors, [](const RawTensor& t) {
             return t.name == "model.layers.1.mlp.up_proj.weight";
           });
         });
       }},
      {"wrong_shape",
       {"model.safetensors", "tensor 'model.layers.0.self_attn.q_proj.weight'", "shape [32, 128]",
        "expected [64, 64]"},
       [](const fs::path& dir) {
         rewrite_tensors(dir, [](std::vector<RawTensor>& tensors) {
           tensor_named(tensors, "model.layers.0.self_attn.q_proj.weight").shape = {32, 128};
         });
       }},
      {"unsupported_dtype",
       {"model.safetensors", "tensor 'model.norm.weight'", "dtype I32", "F32, F16, BF16"},
       [](const fs::path& dir) {
         rewrite_tensors(dir, [](std::vector<RawTensor>& tensors) {
           tensor_named(tensors, "model.norm.weight").dtype = "I32";
         });
       }},
      {"truncated_file",
       {"model.safetensors", "past the end of the file", "truncated"},
       [](const fs::path& dir) {
         const auto path = dir / "model.safetensors";
         fs::resize_file(path, fs::file_size(path) / 2);
       }},
      {"header_length_past_end",
       {"model.safetensors", "header length 1000000", "past the end of the file"},
       [](const fs::path& dir) {
         write_raw_safetensors(dir / "model.safetensors", "{}", 16, 1000000);
       }},
      {"overlapping_tensors",
       {"model.safetensors", "'a'", "'b'", "overlap"},
       [](const fs::path& dir) {
         const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                    R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})";
         write_raw_safetensors(dir / "model.safetensors", header, 24, header.size());
       }},
      {"header_not_json",
       {"model.safetensors", "header: not valid JSON"},
       [](const fs::path& dir) {
         const std::string header = R"({"a": [1, 2)";
         write_raw_safetensors(dir / "model.safetensors", header, 0, header.size());
       }},
      {"unknown_dtype",
       {"model.safetensors", "tensor 'a'", "unknown dtype 'F33'"},
       [](const fs::path& dir) {
         const std::string header = R"({"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})";
         write_raw_safetensors(dir / "model.safetensors", header, 8, header.size());
       }},
      {"missing_shard",
       {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "does not exist"},
       [](const fs::path& dir) {
         auto tensors = read_raw_tensors(dir / "model.safetensors");
         nlohmann::json index = {{"metadata", nlohmann::json::object()},
                                 {"weight_map", nlohmann::json::object()}};
         for (const RawTensor& t : tensors) {
           index["weight_map"][t.name] = t.name.find("layers.1.") != std::string::npos
                                             ? "model-00002-of-00002.safetensors"
                                             : "model-00001-of-00002.safetensors";
         }
         fs::rename(dir / "model.safetensors", dir / "model-00001-of-00002.safetensors");
         write_text(dir / "model.safetensors.index.json", index.dump(2));
       }},
  };
}

void build_bad_checkpoint(const BadCheckpoint& bad, const fs::path& valid_fixture,
                          const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors"}) {
    fs::copy_file(valid_fixture / file, dir / file);
  }
  bad.make(dir);
}

}  // namespace llmpi::testing
