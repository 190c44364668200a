// `llmpi bench` as a user runs it, on the CPU backend at a tiny preset's shape: one decode row
// per batch size with its roofline ratio, the prefill line against a plain GEMM, and clear
// refusals of impossible settings.
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>

#include "command.hpp"

using namespace llmpi::testing;

namespace {

CommandResult bench(const std::string& arguments) {
  return run_command(std::string("timeout 120 ") + LLMPI_BINARY + " bench --preset " +
                     LLMPI_PRESETS_DIR "/tiny-llama-gqa.yaml " + arguments);
}

// The decode table's row for `batch`: ms/layer, weights MB, KV MB, roofline ms, then the
// ratio with its "x"; all finite and the roofline positive.
bool has_decode_row(const std::string& output, int batch) {
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    int first = 0;
    double ms = 0, weights = 0, kv = 0, roofline = 0, ratio = 0;
    std::string x;
    if (!(fields >> first) || first != batch) continue;
    if (!(fields >> ms >> weights >> kv >> roofline >> ratio >> x)) continue;
    if (x == "x" && std::isfinite(ms) && std::isfinite(ratio) && roofline > 0 && weights > 0 &&
        kv > 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("bench prints decode per batch against the roofline and prefill against a GEMM",
          "[cli][bench]") {
  const CommandResult result =
      bench("--layers 1 --batches 1,3 --context 24 --prefill-tokens 16 --repeats 2 --copy-mib 8");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("copy bandwidth") != std::string::npos);
  CHECK(has_decode_row(result.output, 1));
  CHECK(has_decode_row(result.output, 3));
  CHECK(result.output.find("prefill 16 tokens, per layer: ") != std::string::npos);
  CHECK(result.output.find("plain GEMM [16 x 64] x [320 x 64]^T: ") != std::string::npos);
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

TEST_CASE("bench --throughput runs the whole model on synthetic requests per shape",
          "[cli][bench]") {
  const CommandResult result = bench("--throughput --shapes 16/8,24/4 --requests 6");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("KV pool") != std::string::npos);
  CHECK(result.output.find("out tok/s/GPU") != std::string::npos);
  CHECK(result.output.find("      16      8        6") != std::string::npos);
  CHECK(result.output.find("      24      4        6") != std::string::npos);

  const CommandResult modelled =
      bench("--throughput --shapes 16/8 --requests 4 --tp 2 --bus-gbps 300");
  INFO(modelled.output);
  REQUIRE(modelled.exit_code == 0);
  CHECK(modelled.output.find("a MODEL of the communication, not a measurement") !=
        std::string::npos);
  CHECK(modelled.output.find("all-reduces") != std::string::npos);

  const CommandResult unmodelled = bench("--throughput --shapes 16/8 --tp 2");
  CHECK(unmodelled.exit_code == 1);
  CHECK(unmodelled.output.find("--bus-gbps") != std::string::npos);
  const CommandResult shape = bench("--throughput --shapes 16x8");
  CHECK(shape.exit_code == 1);
  CHECK(shape.output.find("'16x8'") != std::string::npos);
}
