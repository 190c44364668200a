// `llmpi generate` as a user runs it: tokens and speed on a good checkpoint; on each broken
// one a message naming the problem and exit code 1 — never a crash (signal) or a hang.
#include <sys/wait.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bad_checkpoints.hpp"
#include "checkpoint_writer.hpp"
#include "command.hpp"
#include "reference_fixture.hpp"

using namespace llmpi::testing;

namespace {

// llmpi alone, as one process (it initialises MPI as a singleton).
CommandResult run(const std::string& arguments) {
  return run_command(std::string("timeout 60 ") + LLMPI_BINARY + " " + arguments);
}

std::string join(const std::vector<std::int32_t>& ids) {
  std::string text;
  for (std::size_t i = 0; i < ids.size(); ++i) text += (i ? "," : "") + std::to_string(ids[i]);
  return text;
}

}  // namespace

TEST_CASE("generate prints Hugging Face's greedy tokens and the measured speed", "[cli]") {
  const ReferenceFixture fixture = load_reference_fixture("falcon_gqa_bf16_sharded");
  const ReferencePrompt& prompt = fixture.prompts.front();
  const CommandResult result =
      run("generate --model " + fixture.dir.string() + " --prompt-ids " + join(prompt.ids) +
          " --max-new-tokens " + std::to_string(prompt.greedy_ids.size()) + " --ignore-eos");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("tokens: " + join(prompt.greedy_ids) + "\n") != std::string::npos);
  CHECK(result.output.find("tokens/s") != std::string::npos);
}

TEST_CASE("generate refuses bad arguments clearly", "[cli][bad-input]") {
  const auto dir = (fixtures_dir() / "llama_gqa_f32").string();
  SECTION("a prompt id that is not a number") {
    const CommandResult result = run("generate --model " + dir + " --prompt-ids 1,x,3");
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("'x' is not a token id") != std::string::npos);
  }
  SECTION("a prompt id outside the vocabulary") {
    const CommandResult result = run("generate --model " + dir + " --prompt-ids 1,256");
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("256 is outside the vocabulary [0, 256)") != std::string::npos);
  }
  SECTION("more tokens than the model has positions") {
    const CommandResult result =
        run("generate --model " + dir + " --prompt-ids 1,2 --max-new-tokens 200");
    INFO(result.output);
    CHECK(result.exit_code == 1);
    CHECK(result.output.find("max_position_embeddings") != std::string::npos);
  }
}

TEST_CASE("generate on a broken checkpoint exits 1 with the file and the problem named",
          "[cli][bad-input]") {
  TempDir temp("cli-bad-checkpoints");
  for (const BadCheckpoint& bad : bad_checkpoints()) {
    DYNAMIC_SECTION(bad.name) {
      const auto dir = temp.path() / bad.name;
      build_bad_checkpoint(bad, fixtures_dir() / "llama_gqa_f32", dir);
      const CommandResult result =
          run("generate --model " + dir.string() + " --prompt-ids 1,2,3 --max-new-tokens 2");
      INFO(result.output);
      CHECK_FALSE(result.crashed);
      CHECK(result.exit_code == 1);
      CHECK(result.output.rfind("llmpi: error: ", 0) == 0);
      for (const std::string& part : bad.message_parts) {
        CHECK(result.output.find(part) != std::string::npos);
      }
    }
  }
}

TEST_CASE("generate under mpiexec with tp=2 x pp=2 prints the same tokens", "[cli][mpi]") {
  const ReferenceFixture fixture = load_reference_fixture("falcon_gqa_bf16_sharded");
  const ReferencePrompt& prompt = fixture.prompts.front();
  const CommandResult result = run_command(
      "timeout 120 " + mpiexec(4) + LLMPI_BINARY + " generate --tp 2 --pp 2 --model " +
      fixture.dir.string() + " --prompt-ids " + join(prompt.ids) + " --max-new-tokens " +
      std::to_string(prompt.greedy_ids.size()) + " --ignore-eos");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.output.find("tokens: " + join(prompt.greedy_ids) + "\n") != std::string::npos);
  CHECK(result.output.find("rank 3: host") != std::string::npos);  // the rank map
  CHECK(result.output.find("tp 1 pp 1 dp 0") != std::string::npos);
}

TEST_CASE("a tensor-parallel group split across nodes is refused with the fix", "[cli][mpi]") {
  // Two simulated nodes of one rank each: tp=2 cannot stay on one node.
  const CommandResult result =
      run_command("timeout 60 " + mpiexec(2, "LLMPI_SIMULATED_NODE_SIZE=1") + LLMPI_BINARY +
                  " generate --tp 2 --model " + (fixtures_dir() / "llama_gqa_f32").string() +
                  " --prompt-ids 1,2,3 --max-new-tokens 2");
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.exit_code != 124);  // refused, not hung
  CHECK(result.output.find("spans nodes") != std::string::npos);
  CHECK(result.output.find("--map-by") != std::string::npos);
}

TEST_CASE("an impossible layout is refused before loading, naming a valid one", "[cli][mpi]") {
  const CommandResult result =
      run_command("timeout 60 " + mpiexec(3) + LLMPI_BINARY + " generate --tp 3 --model " +
                  (fixtures_dir() / "llama_gqa_f32").string() + " --prompt-ids 1,2,3");
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("--tp is 3, which does not split the 4 attention heads") !=
        std::string::npos);
  CHECK(result.output.find("valid tp up to 16: 1, 2, 4") != std::string::npos);
}
