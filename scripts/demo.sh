#!/usr/bin/env bash
# The main job on a laptop or CI-sized machine: installs the packages, fetches
# SmolLM2-135M-Instruct, builds llmpi and generates from it on the CPU backend.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/install_deps.sh
bash scripts/fetch_smollm2.sh
bash scripts/build.sh build

# A chat-formatted question, tokenized by the checkpoint's tokenizer.json.
PROMPT=$'<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n'
./build/src/llmpi generate --model models/SmolLM2-135M-Instruct --prompt "$PROMPT" \
  --max-new-tokens 32
