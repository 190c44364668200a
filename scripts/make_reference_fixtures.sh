#!/usr/bin/env bash
# Regenerate the tiny random Hugging Face checkpoints and their transformers
# reference outputs under tests/fixtures/ (see make_reference_fixtures.py).
#
# Re-runnable: seeds are fixed, so every run overwrites the fixtures with the
# same bytes (given the same library versions). The checked-in fixtures were
# produced with torch 2.15.0 (CPU), transformers 5.24.0, safetensors 0.8.0,
# numpy 2.4.6, Python 3.11.
#
# Needs torch, so it is a developer tool, not part of CI. It keeps its own
# virtualenv in .venv-ref/ (git-ignored) so it never disturbs .venv/.
# Extra arguments are passed to the Python script (e.g. --only llama_gqa_f32).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-ref"
PY="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
# Pinned to the versions that produced the checked-in files; pip is a no-op
# when they are already installed.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "torch==2.15.0" "transformers==5.24.0" "safetensors==0.8.0"

exec "$VENV/bin/python" "$REPO/scripts/make_reference_fixtures.py" "$@"
