#include "llmpi/cli/preset_options.hpp"

namespace llmpi {

void add_preset_override_options(CLI::App& command, PresetOverrides& overrides, bool with_layout) {
  if (with_layout) {
    command.add_option("--tp", overrides.tp, "Tensor-parallel degree (preset: parallel.tp)");
    command.add_option("--pp", overrides.pp, "Pipeline stages (preset: parallel.pp)");
    command.add_option("--dp", overrides.dp, "Data-parallel replicas (preset: parallel.dp)");
  }
  command.add_option("--context-length", overrides.context_length,
                     "Longest sequence in tokens (preset: context_length)");
  command.add_option("--dtype", overrides.dtype, "bf16, fp16 or fp32 (preset: dtype)");
  command.add_option("--max-batch-sequences", overrides.max_batch_sequences,
                     "Sequences in the running batch (preset: batch.max_sequences)");
  command.add_option("--max-batch-tokens", overrides.max_batch_tokens,
                     "Tokens per engine step (preset: batch.max_tokens)");
  command.add_option("--gpu-memory-fraction", overrides.gpu_memory_fraction,
                     "Share of each GPU's memory llmpi may use (preset: memory.gpu_fraction)");
  command.add_option("--stall-limit", overrides.stall_limit_s,
                     "Seconds a rank may wait on the others in one step before the job is "
                     "aborted as stuck; 0: never (preset: stall_limit_s, default 600)");
}

}  // namespace llmpi
