#include <memory>

#include "llmpi/core/error.hpp"
#include "pipeline.hpp"

namespace llmpi {

using Json = nlohmann::json;

namespace {

// TemplateProcessing for single sequences: special tokens around "$A".
class TemplatePostProcessor final : public PostProcessor {
 public:
  TemplatePostProcessor(const Json& json, const std::string& where) {
    for (const Json& item : json.at("single")) {
      if (item.contains("Sequence")) {
        template_.push_back({true, {}});
      } else if (item.contains("SpecialToken")) {
        const std::string name = item.at("SpecialToken").at("id").get<std::string>();
        const Json& specials = json.at("special_tokens");
        if (!specials.contains(name)) {
          throw Error(where + ": template names special token '" + name +
                      "' missing from special_tokens");
        }
        template_.push_back({false, specials.at(name).at("ids").get<std::vector<std::int32_t>>()});
      }
    }
  }
  void process(std::vector<std::int32_t>& ids) const override {
    std::vector<std::int32_t> out;
    for (const Item& item : template_) {
      if (item.sequence) {
        out.insert(out.end(), ids.begin(), ids.end());
      } else {
        out.insert(out.end(), item.ids.begin(), item.ids.end());
      }
    }
    ids = std::move(out);
  }

 private:
  struct Item {
    bool sequence;
    std::vector<std::int32_t> ids;
  };
  std::vector<Item> template_;
};

class SequencePostProcessor final : public PostProcessor {
 public:
  explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps)
      : steps_(std::move(steps)) {}
  void process(std::vector<std::int32_t>& ids) const override {
    for (const auto& step : steps_) step->process(ids);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const Json& json, const std::string& where) {
  if (json.is_null()) return nullptr;
  const std::string type = json.value("type", "");
  if (type == "ByteLevel") return nullptr;  // only adjusts offsets, which llmpi does not report
  if (type == "TemplateProcessing") return std::make_unique<TemplatePostProcessor>(json, where);
  if (type == "Sequence") {
    auto steps = make_steps<PostProcessor>(json, "processors", where, make_post_processor);
    return std::make_unique<SequencePostProcessor>(std::move(steps));
  }
  throw Error(where + ": post-processor type '" + type +
              "' is not implemented (llmpi implements TemplateProcessing, ByteLevel, Sequence)");
}

}  // namespace llmpi
