#include "llmpi/config/yaml_document.hpp"

#include <yaml-cpp/eventhandler.h>

#include <map>
#include <sstream>
#include <vector>

#include "llmpi/core/error.hpp"

namespace llmpi {

namespace {

// The deepest nesting of flow collections ([ and {) outside quotes and comments, checked
// before the parser (which recurses once per level) sees the text.
void check_flow_depth(const std::string& text, const std::string& source) {
  int depth = 0;
  int line = 1;
  char quote = 0;
  bool comment = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      comment = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxYamlDepth) {
        throw Error(source + ":" + std::to_string(line) + ": YAML nested more than " +
                    std::to_string(kMaxYamlDepth) + " levels deep");
      }
    } else if (c == ']' || c == '}') {
      depth = depth > 0 ? depth - 1 : 0;
    }
  }
}

// Counts the nodes the document stands for, every alias as the nodes it repeats, and its
// depth; refuses as soon as either bound is passed.
class NodeCounter : public YAML::EventHandler {
 public:
  explicit NodeCounter(const std::string& source) : source_(source) {}

  void OnDocumentStart(const YAML::Mark& mark) override { line_ = mark.line + 1; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    line_ = mark.line + 1;
    const auto it = sizes_.find(anchor);
    add(it == sizes_.end() ? 1 : it->second);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  void add(long long nodes) {
    total_ += nodes;
    if (total_ > kMaxYamlNodes) {
      throw Error(source_ + ":" + std::to_string(line_) + ": the YAML document stands for more " +
                  "than " + std::to_string(kMaxYamlNodes) +
                  " nodes once its aliases are expanded (an alias bomb?); refused");
    }
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    line_ = mark.line + 1;
    add(1);
    if (anchor != YAML::NullAnchor) sizes_[anchor] = 1;
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    line_ = mark.line + 1;
    add(1);
    open_.push_back({total_ - 1, anchor});
    if (static_cast<int>(open_.size()) > kMaxYamlDepth) {
      throw Error(source_ + ":" + std::to_string(line_) + ": YAML nested more than " +
                  std::to_string(kMaxYamlDepth) + " levels deep");
    }
  }
  void close() {
    const auto [start, anchor] = open_.back();
    open_.pop_back();
    if (anchor != YAML::NullAnchor) sizes_[anchor] = total_ - start;
  }

  const std::string& source_;
  long long total_ = 0;
  int line_ = 1;
  std::vector<std::pair<long long, YAML::anchor_t>> open_;
  std::map<YAML::anchor_t, long long> sizes_;
};

}  // namespace

YAML::Node load_yaml(const std::string& text, const std::string& source) {
  check_flow_depth(text, source);
  try {
    std::stringstream stream(text);
    YAML::Parser parser(stream);
    NodeCounter counter(source);
    while (parser.HandleNextDocument(counter)) {
    }
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
}

}  // namespace llmpi
