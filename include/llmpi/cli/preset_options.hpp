#pragma once

#include <CLI/CLI.hpp>

#include "llmpi/config/preset.hpp"

namespace llmpi {

// The flags that override a preset's values (--tp, --pp, --dp, --context-length, --dtype,
// --max-batch-sequences, --max-batch-tokens, --gpu-memory-fraction); unset flags keep the
// preset's value. `with_layout` false leaves out --tp/--pp/--dp for commands that set them
// themselves.
void add_preset_override_options(CLI::App& command, PresetOverrides& overrides,
                                 bool with_layout = true);

}  // namespace llmpi
