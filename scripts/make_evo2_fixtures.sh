#!/usr/bin/env bash
# Regenerate the tiny random StripedHyena 2 (Evo 2) fixtures under tests/fixtures/evo2_*/
# from their reference implementation, vtx, on the CPU (see make_evo2_fixtures.py), then
# check them against docs/evo2.md written out as code (evo2_spec_check.py, no vtx).
#
# Re-runnable: seeds are fixed, so every run rewrites the same bytes (given the same
# library versions). The checked-in fixtures were produced with the versions pinned
# below on Python 3.11 (CPU; a run takes about 20 s after the install, most of it the FP8
# fixture's seed search).
#
# Needs torch, so it is a developer tool, not part of CI. It keeps its own virtualenv in
# .venv-evo2/ (git-ignored). Everything comes from PyPI by package name; no model hub is
# contacted and no weights are downloaded. evo2 is installed without its dependencies
# (huggingface_hub is not needed): the script reads its configs/evo2-40b-1m.yml and runs
# its scoring.py. biopython is only there because scoring.py imports it.
# Extra arguments are passed to the Python script (e.g. --only evo2_tiny_f32).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-evo2"
PY="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV" >&2
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# Pinned to the versions that produced the checked-in files; pip is a no-op when they
# are already installed. torch is PyPI's default wheel (it runs on the CPU here).
"${PIP[@]}" "torch==2.15.0" "numpy==2.4.6" "einops==0.8.1" "safetensors==0.8.0" \
    "pyyaml==6.0.4" "rich==15.0.0" "tqdm==4.70.1" "packaging==26.4" "biopython==1.88" \
    "vtx==1.1.0"
"${PIP[@]}" --no-deps "evo2==0.6.0"

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$VENV/bin/python" "$REPO/scripts/make_evo2_fixtures.py" "$@"
