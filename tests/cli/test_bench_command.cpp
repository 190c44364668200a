// `llmpi bench` as a user runs it, on the CPU backend at a tiny preset's shape: one decode row
// per batch size with its roofline ratio, the prefill line against a plain GEMM, and clear
// refusals of impossible settings.
#include <catch2/catch.hpp>
#include <regex>
#include <string>

#include "command.hpp"

using namespace llmpi::testing;

namespace {

CommandResult bench(const std::string& arguments) {
  return run_command(std::string("timeout 120 ") + LLMPI_BINARY + " bench --preset " +
                     LLMPI_PRESETS_DIR "/tiny-llama-gqa.yaml " + arguments);
}

}  // namespace

TEST_CASE("bench prints decode per batch against the roofline and prefill against a GEMM",
          "[cli][bench]") {
  const CommandResult result =
      bench("--layers 1 --batches 1,3 --context 24 --prefill-tokens 16 --repeats 2 --copy-mib 8");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("copy bandwidth") != std::string::npos);
  for (const char* batch : {"1", "3"}) {
    // batch, ms/layer, weights MB, KV MB, roofline ms, ratio
    const std::regex row(std::string("\\n +") + batch +
                         " +-?[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +-?[0-9.]+x\\n");
    CHECK(std::regex_search(result.output, row));
  }
  CHECK(std::regex_search(result.output,
                          std::regex("prefill 16 tokens, per layer: .* TFLOP/s; plain GEMM "
                                     "\\[16 x 64\\] x \\[320 x 64\\]\\^T: .*ratio")));
}

TEST_CASE("bench refuses impossible settings and names them", "[cli][bench]") {
  const CommandResult batch = bench("--batches 1,0");
  CHECK(batch.exit_code != 0);
  CHECK(batch.output.find("--batches") != std::string::npos);

  const CommandResult slice = bench("--tp 3");
  CHECK(slice.exit_code == 1);
  CHECK(slice.output.find("tp") != std::string::npos);

  const CommandResult context = bench("--context 100000");
  CHECK(context.exit_code == 1);
  CHECK(context.output.find("positions") != std::string::npos);

  const CommandResult torch = bench(
      "--layers 1 --batches 1 --context 8 --prefill-tokens 8 --repeats 1 --copy-mib 1 --torch "
      "--python /nonexistent/python");
  CHECK(torch.exit_code == 1);
  CHECK(torch.output.find("--python") != std::string::npos);
}
