#!/usr/bin/env bash
# Regenerate tests/fixtures/smollm2/reference.json: transformers' fp32 outputs
# (token ids, top-5 next-token logits, 16-token greedy continuations) for the
# converted SmolLM2-135M-Instruct checkpoint in models/SmolLM2-135M-Instruct/.
#
# Re-runnable and deterministic (no sampling). Fetches/converts the model
# first via scripts/fetch_smollm2.sh if it is missing. The checked-in file was
# produced with torch 2.15.0 (CPU), transformers 5.24.0, safetensors 0.8.0,
# Python 3.11.
#
# Needs torch, so it is a developer tool, not part of CI. It shares the
# .venv-ref/ virtualenv (git-ignored) with make_reference_fixtures.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-ref"
PY="${PYTHON:-python3}"

bash "$REPO/scripts/fetch_smollm2.sh"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "torch==2.15.0" "transformers==5.24.0" "safetensors==0.8.0"

exec "$VENV/bin/python" "$REPO/scripts/make_smollm2_reference.py" "$@"
