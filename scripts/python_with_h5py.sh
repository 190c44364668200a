#!/usr/bin/env bash
# Prints a Python that imports h5py and numpy: python3 if it does, else .venv-h5/ (created with
# h5py 3.16.0 and its numpy from PyPI). For the scripts that read results files.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if python3 -c "import h5py, numpy" 2> /dev/null; then
  command -v python3
  exit 0
fi
VENV="$REPO/.venv-h5"
if ! "$VENV/bin/python" -c "import h5py, numpy" 2> /dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check h5py==3.16.0 >&2
fi
echo "$VENV/bin/python"
