#include "llmpi/cli/tokenize_command.hpp"

#include <cstdio>

#include "llmpi/tokenizer/tokenizer.hpp"

namespace llmpi {

CLI::App& add_tokenize_command(CLI::App& app, TokenizeArgs& args) {
  CLI::App* command = app.add_subcommand("tokenize", "Print the token ids and pieces of a text");
  command->add_option("--model", args.model_dir, "Checkpoint directory with tokenizer.json")
      ->required();
  command->add_option("text", args.text, "Text to tokenize")->required();
  command->add_flag("--add-special-tokens", args.add_special_tokens,
                    "Add the template's special tokens (BOS, ...)");
  return *command;
}

int run_tokenize(const TokenizeArgs& args) {
  const auto tokenizer = load_tokenizer(args.model_dir);
  const auto ids = tokenizer->encode(args.text, args.add_special_tokens);
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) line += (i ? "," : "") + std::to_string(ids[i]);
  std::printf("ids: %s\n", line.c_str());
  for (const std::int32_t id : ids) {
    std::printf("%8d  %s\n", id, tokenizer->id_to_token(id).c_str());
  }
  std::printf("decoded: %s\n", tokenizer->decode(ids, false).c_str());
  return 0;
}

}  // namespace llmpi
