#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "pieces.hpp"

namespace llmpi {

// The stages of a Hugging Face tokenizer.json, each built from its JSON object. Every type
// llmpi does not implement is refused by name (`where` locates the object in the file).

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void split(Pieces& pieces) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds the template's special tokens around `ids` (only called with add_special_tokens).
  virtual void process(std::vector<std::int32_t>& ids) const = 0;
};

// The steps of a "Sequence" stage, each made by `make` (which may return null for a no-op).
template <typename Stage, typename Make>
std::vector<std::unique_ptr<Stage>> make_steps(const nlohmann::json& json, const char* key,
                                               const std::string& where, Make make) {
  std::vector<std::unique_ptr<Stage>> steps;
  std::size_t index = 0;
  for (const nlohmann::json& step : json.at(key)) {
    auto made = make(step, where + "." + key + "[" + std::to_string(index++) + "]");
    if (made) steps.push_back(std::move(made));
  }
  return steps;
}

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& json, const std::string& where);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& json,
                                                 const std::string& where);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& json, const std::string& where);
std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& json,
                                                   const std::string& where);

}  // namespace llmpi
