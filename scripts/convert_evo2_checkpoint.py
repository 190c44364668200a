#!/usr/bin/env python3
"""Turn a published Evo 2 checkpoint (evo2_40b.pt, or its .pt.part0, .part1, ... pieces) into a
model directory llmpi reads: safetensors shards, their index, and a config.json.

The published file is one PyTorch (zip/pickle) state dict in vtx's tensor names (docs/evo2.md,
"The published checkpoint"). This script
  - joins the .partN pieces byte for byte when given the first one (what evo2 does);
  - loads it memory-mapped with weights_only=True (io.BytesIO allowed, as vtx allows it for
    Transformer Engine's _extra_state blobs);
  - drops what llmpi does not read, and says what it dropped: every *._extra_state (FP8
    metadata), rotary inv_freq buffers (recomputed from the config), filter.t buffers, and
    unembed.weight when the head is tied;
  - checks every remaining tensor's shape against the config and refuses the checkpoint with
    the tensor named when one differs or is missing;
  - keeps each tensor's dtype and values exactly (bf16 stays bf16, fp32 poles stay fp32) and the
    attention Wqkv rows in the checkpoint's per-head order, which llmpi reads as they are;
  - writes model-0000N-of-0000M.safetensors (about --shard-gib each), the index, and config.json:
    the `model:` section of the preset (presets/evo2-40b.yaml by default) as JSON.

Usage:
  python scripts/convert_evo2_checkpoint.py --checkpoint evo2_40b.pt --out models/evo2-40b
  python scripts/convert_evo2_checkpoint.py --checkpoint evo2_40b.pt.part0 \
      --preset presets/evo2-40b.yaml --out models/evo2-40b

Needs torch, safetensors and pyyaml (scripts/make_evo2_fixtures.sh's .venv-evo2 has them).
"""

import argparse
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

DROPPED_SUFFIXES = ("._extra_state", ".rotary_emb.inv_freq", ".filter.t")


def join_parts(first: Path, scratch: Path) -> Path:
    """evo2's loader concatenates name.pt.part0, .part1, ... into name.pt; so does this."""
    if not first.name.endswith(".part0"):
        return first
    stem = first.name[: -len(".part0")]
    joined = scratch / stem
    with joined.open("wb") as out:
        index = 0
        while (part := first.with_name(f"{stem}.part{index}")).exists():
            with part.open("rb") as piece:
                shutil.copyfileobj(piece, out, 64 << 20)
            index += 1
    print(f"joined {index} parts into {joined}", file=sys.stderr)
    return joined


def load_state_dict(path: Path) -> dict:
    torch.serialization.add_safe_globals([io.BytesIO])
    state = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    if isinstance(state, dict) and "module" in state and isinstance(state["module"], dict):
        state = state["module"]
    if not isinstance(state, dict):
        raise SystemExit(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def expected_shapes(c: dict) -> dict:
    """Every tensor llmpi reads, with the shape the config implies (docs/evo2.md)."""
    h, vocab = c["hidden_size"], c["vocab_size"]
    inner = c["inner_mlp_size"]
    shapes = {"embedding_layer.weight": (vocab, h), "norm.scale": (h,)}
    if not c.get("tie_embeddings", False):
        shapes["unembed.weight"] = (vocab, h)
    kinds = {}
    for key, kind in (("hcs_layer_idxs", "hcs"), ("hcm_layer_idxs", "hcm"),
                      ("hcl_layer_idxs", "hcl"), ("attn_layer_idxs", "attn")):
        for i in c.get(key, []):
            kinds[i] = kind
    for i in range(c["num_layers"]):
        p = f"blocks.{i}."
        shapes.update({p + "pre_norm.scale": (h,), p + "post_norm.scale": (h,),
                       p + "mlp.l1.weight": (inner, h), p + "mlp.l2.weight": (inner, h),
                       p + "mlp.l3.weight": (h, inner)})
        kind = kinds.get(i)
        if kind is None:
            raise SystemExit(f"config: layer {i} is in none of the *_layer_idxs lists")
        if kind == "attn":
            shapes[p + "inner_mha_cls.Wqkv.weight"] = (3 * h, h)
            shapes[p + "inner_mha_cls.out_proj.weight"] = (h, h)
            if c.get("mha_out_proj_bias", False):
                shapes[p + "inner_mha_cls.out_proj.bias"] = (h,)
            continue
        shapes.update({p + "projections.weight": (3 * h, h),
                       p + "filter.short_filter_weight": (3 * h, 1, c["short_filter_length"]),
                       p + "out_filter_dense.weight": (h, h),
                       p + "out_filter_dense.bias": (h,)})
        if kind == "hcs":
            shapes[p + "filter.h"] = (c["hcs_filter_groups"], 1, c["hcs_filter_length"])
        elif kind == "hcm":
            shapes[p + "filter.h"] = (c["hcm_filter_groups"], 1, c["hcm_filter_length"])
            shapes[p + "filter.D"] = (h,)
        else:
            shapes[p + "filter.log_poles"] = (h, c["state_size"], 1)
            shapes[p + "filter.residues"] = (h, c["state_size"])
            shapes[p + "filter.D"] = (h,)
    return shapes


def select_tensors(state: dict, config: dict) -> dict:
    shapes = expected_shapes(config)
    kept, dropped, unknown = {}, [], []
    for name, value in state.items():
        if name in shapes:
            if not isinstance(value, torch.Tensor):
                raise SystemExit(f"checkpoint: '{name}' is a {type(value).__name__}, not a tensor")
            if tuple(value.shape) != shapes[name]:
                raise SystemExit(f"checkpoint: '{name}' has shape {tuple(value.shape)}, the config "
                                 f"implies {shapes[name]}; is this the preset's model?")
            kept[name] = value.contiguous()
        elif name.endswith(DROPPED_SUFFIXES) or name == "unembed.weight":
            dropped.append(name)
        else:
            unknown.append(name)
    missing = sorted(set(shapes) - set(kept))
    if missing:
        raise SystemExit(f"checkpoint: {len(missing)} tensors the config needs are missing, "
                         f"first {missing[:5]}")
    if dropped:
        print(f"dropped {len(dropped)} tensors llmpi does not read "
              f"(FP8 metadata, rotary and filter buffers, a tied head's copy)", file=sys.stderr)
    if unknown:
        print(f"ignored {len(unknown)} unknown tensors, first {unknown[:5]}", file=sys.stderr)
    return kept


def write_shards(tensors: dict, out: Path, shard_bytes: int) -> None:
    names = sorted(tensors)
    shards, current, size = [], [], 0
    for name in names:
        nbytes = tensors[name].numel() * tensors[name].element_size()
        if current and size + nbytes > shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(name)
        size += nbytes
    shards.append(current)
    if len(shards) == 1:
        save_file({n: tensors[n] for n in shards[0]}, str(out / "model.safetensors"))
        return
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({n: tensors[n] for n in shard}, str(out / file))
        for n in shard:
            weight_map[n] = file
            total += tensors[n].numel() * tensors[n].element_size()
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="the published .pt (or its .pt.part0)")
    parser.add_argument("--preset", type=Path, default=repo / "presets" / "evo2-40b.yaml",
                        help="the preset whose model: section becomes config.json")
    parser.add_argument("--out", type=Path, required=True, help="the model directory to write")
    parser.add_argument("--shard-gib", type=float, default=5.0)
    args = parser.parse_args()

    config = yaml.safe_load(args.preset.read_text())["model"]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        state = load_state_dict(join_parts(args.checkpoint, Path(scratch)))
        tensors = select_tensors(state, config)
        write_shards(tensors, args.out, int(args.shard_gib * (1 << 30)))
    dtypes = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    config = dict(config)
    config.setdefault("torch_dtype", "bfloat16" if "bfloat16" in dtypes else dtypes[0])
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote {len(tensors)} tensors ({', '.join(dtypes)}) and config.json to {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
