#include <catch2/catch.hpp>

#include "bad_checkpoints.hpp"
#include "llmpi/backend/cpu_backend.hpp"
#include "llmpi/core/error.hpp"
#include "llmpi/model/model_weights.hpp"
#include "reference_fixture.hpp"

using namespace llmpi;
using namespace llmpi::testing;

TEST_CASE("every broken checkpoint is refused with a message naming what is wrong",
          "[model][bad-input]") {
  TempDir temp("bad-checkpoints");
  for (const BadCheckpoint& bad : bad_checkpoints()) {
    DYNAMIC_SECTION(bad.name) {
      const auto dir = temp.path() / bad.name;
      build_bad_checkpoint(bad, fixtures_dir() / "llama_gqa_f32", dir);
      std::string message;
      try {
        const ModelConfig config = load_model_config(dir);
        const Checkpoint checkpoint(dir);
        CpuBackend backend;
        load_model_weights(config, checkpoint, backend);
      } catch (const Error& e) {
        message = e.what();
      }
      INFO("message: " << message);
      REQUIRE_FALSE(message.empty());
      for (const std::string& part : bad.message_parts)
        CHECK(message.find(part) != std::string::npos);
    }
  }
}
