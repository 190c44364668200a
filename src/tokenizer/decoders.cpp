#include <memory>

#include "llmpi/core/error.hpp"
#include "pipeline.hpp"
#include "unicode.hpp"

namespace llmpi {

namespace {

using Json = nlohmann::json;

// Joins every token, maps each character back to its byte, then decodes lossily. A token with
// a character outside the byte map (an added token, say) contributes its own UTF-8 bytes.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::string mapped;
      bool all_mapped = true;
      for (const char32_t cp : unicode::decode(token)) {
        const int b = unicode::char_to_byte(cp);
        if (b < 0) {
          all_mapped = false;
          break;
        }
        mapped += static_cast<char>(b);
      }
      bytes += all_mapped ? mapped : token;
    }
    tokens.assign(1, unicode::from_utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement_, " ");
      if (i == 0 && strip_first_ && !tokens[i].empty() && tokens[i].front() == ' ') {
        tokens[i].erase(0, 1);
      }
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string from, std::string to) : from_(std::move(from)), to_(std::move(to)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) replace_all(token, from_, to_);
  }

 private:
  std::string from_, to_;
};

// Runs of <0xNN> tokens become their bytes when those form valid UTF-8, else one U+FFFD each.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    std::size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (unicode::first_invalid(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        for (std::size_t i = 0; i < pending_count; ++i) out.emplace_back("\xef\xbf\xbd");
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& token : tokens) {
      if (token.size() == 6 && token.rfind("<0x", 0) == 0 && token.back() == '>') {
        const std::string hex = token.substr(3, 2);
        if (std::isxdigit(static_cast<unsigned char>(hex[0])) &&
            std::isxdigit(static_cast<unsigned char>(hex[1]))) {
          pending += static_cast<char>(std::stoi(hex, nullptr, 16));
          ++pending_count;
          continue;
        }
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    tokens.assign(1, joined);
  }
};

// Removes up to `start` leading and `stop` trailing characters equal to `content`.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& token : tokens) {
      for (std::size_t i = 0; i < start_ && token.rfind(content_, 0) == 0 && !content_.empty();
           ++i) {
        token.erase(0, content_.size());
      }
      for (std::size_t i = 0;
           i < stop_ && !content_.empty() && token.size() >= content_.size() &&
           token.compare(token.size() - content_.size(), content_.size(), content_) == 0;
           ++i) {
        token.erase(token.size() - content_.size());
      }
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_) step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& json, const std::string& where) {
  if (json.is_null()) return nullptr;
  const std::string type = json.value("type", "");
  if (type == "Sequence") {
    auto steps = make_steps<Decoder>(json, "decoders", where, make_decoder);
    return std::make_unique<SequenceDecoder>(std::move(steps));
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Metaspace") {
    std::string scheme = json.value("prepend_scheme", "");
    if (scheme.empty()) scheme = json.value("add_prefix_space", true) ? "always" : "never";
    return std::make_unique<MetaspaceDecoder>(json.value("replacement", "\xe2\x96\x81"),
                                              scheme != "never");
  }
  if (type == "Replace") {
    const Json& pattern = json.at("pattern");
    if (!pattern.contains("String")) {
      throw Error(where + ": Replace decoder with a regex pattern is not implemented");
    }
    return std::make_unique<ReplaceDecoder>(pattern.at("String").get<std::string>(),
                                            json.at("content").get<std::string>());
  }
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(json.at("content").get<std::string>(),
                                          json.value("start", 0u), json.value("stop", 0u));
  }
  throw Error(where + ": decoder type '" + type +
              "' is not implemented (llmpi implements Sequence, ByteLevel, ByteFallback, Fuse, "
              "Metaspace, Replace, Strip)");
}

}  // namespace llmpi
