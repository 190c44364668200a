#!/usr/bin/env python3
"""Check scripts/convert_evo2_checkpoint.py on the Evo 2 fixtures dressed as published files.

For each tests/fixtures/evo2_* fixture: its tensors are saved the way evo2's .pt checkpoints are
(torch.save of a flat state dict, bf16 where the published models are bf16, plus the entries the
published files carry that llmpi does not read: Transformer Engine _extra_state blobs as
io.BytesIO, an unembed.weight beside a tied embedding), split into .part0/.part1 pieces; the
converter turns them back into a model directory, and every tensor it wrote must equal the one
saved, with its dtype, and config.json must be the preset's model: section. A second run with a
wrong shape must be refused naming the tensor.

Usage: .venv-evo2/bin/python scripts/check_evo2_converter.py
"""

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parent.parent
CONVERTER = REPO / "scripts" / "convert_evo2_checkpoint.py"


def published_state(fixture: Path) -> dict:
    state = load_file(str(fixture / "model.safetensors"))
    # The published models are bf16 except the modal poles and residues (docs/evo2.md).
    for name in list(state):
        if not name.endswith(("log_poles", "residues")):
            state[name] = state[name].to(torch.bfloat16)
    for name in [n for n in state if n.endswith("projections.weight")]:
        state[name[: -len("weight")] + "_extra_state"] = io.BytesIO(b"TE fp8 metadata")
    config = json.loads((fixture / "config.json").read_text())
    if config.get("tie_embeddings"):
        state["unembed.weight"] = state["embedding_layer.weight"].clone()
    return state


def convert(checkpoint: Path, preset: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERTER), "--checkpoint", str(checkpoint),
                           "--preset", str(preset), "--out", str(out), "--shard-gib", "0.0001"],
                          capture_output=True, text=True)


def check(fixture: Path, scratch: Path) -> None:
    state = published_state(fixture)
    config = json.loads((fixture / "config.json").read_text())
    whole = scratch / "evo2.pt"
    torch.save(state, whole)
    data = whole.read_bytes()
    (scratch / "evo2.pt.part0").write_bytes(data[: len(data) // 2])
    (scratch / "evo2.pt.part1").write_bytes(data[len(data) // 2:])
    preset = scratch / "preset.yaml"
    preset.write_text(yaml.safe_dump({"name": fixture.name, "model": config}))

    out = scratch / "model"
    result = convert(scratch / "evo2.pt.part0", preset, out)
    assert result.returncode == 0, result.stderr
    index = out / "model.safetensors.index.json"
    files = (sorted(set(json.loads(index.read_text())["weight_map"].values()))
             if index.exists() else ["model.safetensors"])
    written = {}
    for file in files:
        written.update(load_file(str(out / file)))
    tied = config.get("tie_embeddings", False)
    expected = {n: t for n, t in state.items() if isinstance(t, torch.Tensor)
                and not n.endswith("inv_freq") and not (tied and n == "unembed.weight")}
    assert set(written) == set(expected), set(written) ^ set(expected)
    for name, tensor in expected.items():
        assert written[name].dtype == tensor.dtype, name
        assert torch.equal(written[name], tensor), name
    assert json.loads((out / "config.json").read_text())["hidden_size"] == config["hidden_size"]

    bad = dict(state)
    bad["blocks.0.mlp.l1.weight"] = bad["blocks.0.mlp.l1.weight"][:-1]
    torch.save(bad, scratch / "bad.pt")
    result = convert(scratch / "bad.pt", preset, scratch / "bad-model")
    assert result.returncode != 0 and "blocks.0.mlp.l1.weight" in result.stderr, result.stderr
    print(f"{fixture.name}: {len(expected)} tensors in {len(files)} shards equal, "
          f"{len(state) - len(expected)} dropped; a wrong shape refused by name")


def main() -> None:
    for fixture in sorted((REPO / "tests" / "fixtures").glob("evo2_*")):
        with tempfile.TemporaryDirectory() as scratch:
            check(fixture, Path(scratch))


if __name__ == "__main__":
    main()
