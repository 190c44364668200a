#include "tiny_eval_model.hpp"

#include <nlohmann/json.hpp>

#include "checkpoint_writer.hpp"
#include "reference_fixture.hpp"

namespace llmpi::testing {

std::string gpt2_byte_character(int byte) {
  // Printable bytes stand for themselves, the rest move to U+0100 onwards in byte order.
  const auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int code = byte;
  if (!printable(byte)) {
    code = 256;
    for (int b = 0; b < byte; ++b) code += printable(b) ? 0 : 1;
  }
  std::string utf8;
  if (code < 0x80) {
    utf8 += static_cast<char>(code);
  } else {
    utf8 += static_cast<char>(0xC0 | (code >> 6));
    utf8 += static_cast<char>(0x80 | (code & 0x3F));
  }
  return utf8;
}

std::filesystem::path write_tiny_eval_model(const std::filesystem::path& dir,
                                            const std::string& fixture) {
  std::filesystem::create_directories(dir);
  for (const auto& entry : std::filesystem::directory_iterator(fixtures_dir() / fixture)) {
    if (entry.path().filename() == "reference.json") continue;
    std::filesystem::copy_file(entry.path(), dir / entry.path().filename(),
                               std::filesystem::copy_options::overwrite_existing);
  }
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) vocab[gpt2_byte_character(byte)] = byte;
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", true},
                                     {"use_regex", true}};
  const nlohmann::json tokenizer = {{"version", "1.0"},
                                    {"truncation", nullptr},
                                    {"padding", nullptr},
                                    {"added_tokens", nlohmann::json::array()},
                                    {"normalizer", nullptr},
                                    {"pre_tokenizer", byte_level},
                                    {"post_processor", nullptr},
                                    {"decoder", byte_level},
                                    {"model",
                                     {{"type", "BPE"},
                                      {"dropout", nullptr},
                                      {"unk_token", nullptr},
                                      {"continuing_subword_prefix", nullptr},
                                      {"end_of_word_suffix", nullptr},
                                      {"fuse_unk", false},
                                      {"byte_fallback", false},
                                      {"ignore_merges", false},
                                      {"vocab", vocab},
                                      {"merges", nlohmann::json::array()}}}};
  write_text(dir / "tokenizer.json", tokenizer.dump(1));
  return dir;
}

void write_questions(const std::filesystem::path& path, const std::vector<std::string>& ids) {
  std::string text;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    text += nlohmann::json{{"id", ids[i]},
                           {"question", std::to_string(i) + " + 2?"},
                           {"answer", "#### " + std::to_string(i + 2)}}
                .dump() +
            "\n";
  }
  write_text(path, text);
}

std::vector<std::string> numbered_ids(int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back("q" + std::to_string(i));
  return ids;
}

void write_question_task(const std::filesystem::path& path, const std::string& name,
                         const std::string& dataset, const std::string& generation,
                         const std::string& scorer) {
  write_text(path, "name: " + name + "\ncategory: math\ndataset: " + dataset +
                       "\nprompt: \"Q: {question}\\nA:\"\ngeneration:\n" + generation +
                       "scorer:\n" + scorer);
}

}  // namespace llmpi::testing
