#!/usr/bin/env bash
# The main job on a laptop or CI-sized machine: installs the packages, fetches
# SmolLM2-135M-Instruct, builds llmpi and generates from it on the CPU backend.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install_deps.sh
bash scripts/fetch_smollm2.sh
bash scripts/build.sh build

# "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n" as
# SmolLM2's tokenizer encodes it (text prompts arrive with the tokenizer component).
PROMPT=1,4093,198,1780,314,260,3575,282,4649,47,2,198,1,520,9531,198
./build/src/llmpi generate --model models/SmolLM2-135M-Instruct --prompt-ids "$PROMPT" \
  --max-new-tokens 32
