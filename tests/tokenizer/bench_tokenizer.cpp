// Encoding throughput, llmpi against Hugging Face `tokenizers` (single thread, the same text,
// the same run): a few MB of mixed text built from the conformance corpus, encoded line by
// line by both. Prints both rates and their ratio (goal: >= 1.0).
// Usage: tokenizer_bench TOKENIZER_DIR [MEGABYTES]
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "llmpi/tokenizer/tokenizer.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tokenizer_bench TOKENIZER_DIR [MEGABYTES]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const double megabytes = argc > 2 ? std::stod(argv[2]) : 4.0;
  try {
    const auto tokenizer = llmpi::load_tokenizer(dir);
    std::ifstream corpus(LLMPI_FIXTURES_DIR "/tokenizers/corpus.jsonl");
    std::vector<std::string> lines;
    for (std::string line; std::getline(corpus, line);) {
      auto text = nlohmann::json::parse(line).at("text").get<std::string>();
      for (char& c : text) {
        if (c == '\n') c = ' ';  // one text per line in the shared file
      }
      if (!text.empty()) lines.push_back(text);
    }
    std::mt19937 generator(7);
    std::vector<std::string> texts;
    std::size_t bytes = 0;
    while (static_cast<double>(bytes) < megabytes * 1e6) {
      texts.push_back(lines[generator() % lines.size()]);
      bytes += texts.back().size() + 1;
    }
    const auto file = std::filesystem::temp_directory_path() / "llmpi-tokenizer-bench.txt";
    {
      std::ofstream out(file);
      for (const std::string& t : texts) out << t << '\n';
    }
    for (std::size_t i = 0; i < 200 && i < texts.size(); ++i) tokenizer->encode(texts[i], false);
    std::size_t tokens = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& t : texts) tokens += tokenizer->encode(t, false).size();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double ours = static_cast<double>(bytes) / seconds;

    const std::string python = std::filesystem::exists(LLMPI_SOURCE_DIR "/.venv/bin/python")
                                   ? LLMPI_SOURCE_DIR "/.venv/bin/python"
                                   : "python3";
    const std::string command = "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false " + python +
                                " " LLMPI_SOURCE_DIR
                                "/scripts/bench_tokenizer_hf.py --mode lines " +
                                (dir / "tokenizer.json").string() + " " + file.string();
    FILE* pipe = ::popen(command.c_str(), "r");
    std::string output;
    char buffer[512];
    while (pipe != nullptr && std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
    if (pipe != nullptr) ::pclose(pipe);
    std::filesystem::remove(file);
    const auto at = output.find("hf_bytes_per_second=");
    std::printf("%s: %.1f MB of text, %zu tokens\n", dir.c_str(), static_cast<double>(bytes) / 1e6,
                tokens);
    std::printf("  llmpi:          %.2f MB/s (single thread)\n", ours / 1e6);
    if (at == std::string::npos) {
      std::printf("  hf tokenizers:  not measured (%s)\n", output.c_str());
      return 1;
    }
    const double theirs = std::stod(output.substr(at + 20));
    std::printf("  hf tokenizers:  %.2f MB/s (single thread)\n  ratio llmpi/hf: %.2f\n",
                theirs / 1e6, ours / theirs);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
