#!/usr/bin/env python3
"""Convert a llama-architecture GGUF (byte-level BPE vocabulary) into a
Hugging Face-style checkpoint directory:

  config.json            LlamaForCausalLM config taken from the GGUF metadata
  model.safetensors      HF tensor names, dequantized to float32 then stored as
                         bfloat16 (round-to-nearest-even), with llama.cpp's
                         Q/K row permutation undone
  tokenizer.json         byte-level BPE built with `tokenizers` from the GGUF
                         vocabulary and merges
  tokenizer_config.json  special tokens and chat template

Needs only numpy, gguf, safetensors and tokenizers (no torch), so CI can run it.
The output is deterministic: the same GGUF gives the same bytes every run.
The directory is assembled under a temporary name and renamed into place at
the end, so an existing output directory is always complete.

Usage: python scripts/gguf_to_hf.py --gguf FILE.gguf --out DIR [--force]
"""

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize
from safetensors import TensorSpec, serialize_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

OUTPUT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
TOKEN_TYPE_CONTROL = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL

# GGUF per-layer tensor suffix -> HF per-layer name
LAYER_MAP = {
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
GLOBAL_MAP = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def fail(msg):
    sys.exit(f"gguf_to_hf: error: {msg}")


class Meta:
    """Typed access to GGUF key/value metadata."""

    def __init__(self, reader):
        self.fields = reader.fields

    def get(self, key, default=None):
        f = self.fields.get(key)
        return default if f is None else f.contents()

    def req(self, key):
        if key not in self.fields:
            fail(f"GGUF metadata lacks '{key}'")
        return self.fields[key].contents()

    def f32(self, key, default=None):
        """A FLOAT32 value as the shortest decimal that round-trips float32
        (so 1e-5 stays 1e-05 rather than 9.999999747378752e-06)."""
        v = self.get(key, default)
        if v is None:
            return None
        f = self.fields.get(key)
        if f is not None and f.types and f.types[0] == GGUFValueType.FLOAT32:
            return float(str(np.float32(v)))  # numpy prints the shortest round-trip form
        return float(v)


def to_bf16_bits(x):
    """float32 -> bfloat16 bit patterns (uint16), round-to-nearest-even.

    Adding 0x7FFF plus the lowest kept bit before truncating rounds ties to
    even; NaNs are mapped to a quiet NaN so rounding cannot turn them into inf.
    """
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))
    out = rounded.astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = np.uint16(0x7FC0)
    return out


def unpermute_rows(w, n_head):
    """Undo llama.cpp's convert-time Q/K permutation.

    llama.cpp regroups each head's rows from HF's half-split rotary layout
    [x0..x(d/2-1), y0..y(d/2-1)] into interleaved pairs (x0,y0,x1,y1,...);
    reshaping the other way round restores the Hugging Face order.
    """
    rows, cols = w.shape
    if rows % (2 * n_head):
        fail(f"cannot unpermute {w.shape} for {n_head} heads")
    return w.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def tensor_as_f32(t):
    """Dequantize one GGUF tensor to float32 with HF's [out, in] shape."""
    shape = tuple(int(n) for n in reversed(t.shape))  # GGUF lists ne0 (innermost) first
    arr = dequantize(t.data, t.tensor_type)
    if arr.size != int(np.prod(shape)):
        fail(f"{t.name}: dequantized {arr.size} values, expected shape {shape}")
    return np.asarray(arr, dtype=np.float32).reshape(shape)


def convert_tensors(reader, n_head, n_head_kv, n_layer):
    tensors = {}
    for t in reader.tensors:
        name = t.name
        if name in GLOBAL_MAP:
            hf = GLOBAL_MAP[name]
        elif name.startswith("blk."):
            _, idx, suffix = name.split(".", 2)
            if suffix not in LAYER_MAP or not idx.isdigit() or int(idx) >= n_layer:
                fail(f"unsupported tensor '{name}'")
            hf = f"model.layers.{idx}.{LAYER_MAP[suffix]}"
        else:
            fail(f"unsupported tensor '{name}'")
        w = tensor_as_f32(t)
        if name.endswith("attn_q.weight"):
            w = unpermute_rows(w, n_head)
        elif name.endswith("attn_k.weight"):
            w = unpermute_rows(w, n_head_kv)
        tensors[hf] = to_bf16_bits(w)
    expected = {"model.embed_tokens.weight", "model.norm.weight"} | {
        f"model.layers.{i}.{v}" for i in range(n_layer) for v in LAYER_MAP.values()}
    missing = expected - tensors.keys()
    if missing:
        fail(f"GGUF lacks tensors for: {sorted(missing)[:5]} ...")
    return tensors


def write_safetensors(tensors, path):
    """Write bf16 bit patterns with safetensors' dtype tag 'bfloat16' (numpy has no bf16)."""
    specs = {
        k: TensorSpec(dtype="bfloat16", shape=list(v.shape), data_ptr=v.ctypes.data, data_len=v.nbytes)
        for k, v in tensors.items()
    }
    serialize_file(specs, str(path), metadata={"format": "pt"})


def build_config(meta, arch, has_output):
    def a(key):
        return f"{arch}.{key}"

    n_head = int(meta.req(a("attention.head_count")))
    hidden = int(meta.req(a("embedding_length")))
    tokens = meta.req("tokenizer.ggml.tokens")
    head_dim = int(meta.get(a("rope.dimension_count"), hidden // n_head))
    if head_dim != hidden // n_head:
        fail("partial rotary (rope.dimension_count != head size) is not supported")
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": int(meta.req(a("feed_forward_length"))),
        "num_hidden_layers": int(meta.req(a("block_count"))),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(meta.get(a("attention.head_count_kv"), n_head)),
        "head_dim": head_dim,
        "hidden_act": "silu",
        "rms_norm_eps": meta.f32(a("attention.layer_norm_rms_epsilon")),
        "rope_theta": meta.f32(a("rope.freq_base"), 10000.0),
        "rope_scaling": None,
        "max_position_embeddings": int(meta.req(a("context_length"))),
        "vocab_size": int(meta.get(a("vocab_size"), len(tokens))),
        "bos_token_id": meta.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": meta.get("tokenizer.ggml.eos_token_id"),
        "pad_token_id": meta.get("tokenizer.ggml.padding_token_id"),
        "tie_word_embeddings": not has_output,  # llama.cpp drops output.weight when tied
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "use_cache": True,
        "torch_dtype": "bfloat16",
    }
    if meta.get(a("rope.scaling.type")) not in (None, "none"):
        fail("RoPE scaling in the GGUF is not supported by this converter")
    return cfg


def build_tokenizer(meta):
    model_kind = meta.req("tokenizer.ggml.model")
    if model_kind != "gpt2":
        fail(f"tokenizer.ggml.model is '{model_kind}'; only byte-level BPE ('gpt2') is supported")
    tokens = list(meta.req("tokenizer.ggml.tokens"))
    types = list(meta.get("tokenizer.ggml.token_type", [1] * len(tokens)))
    merges = []
    for m in meta.req("tokenizer.ggml.merges"):
        pair = m.split(" ")
        if len(pair) != 2:
            fail(f"malformed merge {m!r}")
        merges.append(tuple(pair))
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != len(tokens):
        fail("duplicate tokens in the GGUF vocabulary")

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None,
                               fuse_unk=False, byte_fallback=False))
    # SmolLM2's published pipeline (llama.cpp pre-tokenizer "smollm"): every digit on its
    # own, then GPT-2's byte-level regex split.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    # Control tokens (<|im_start|> ...) must match whole in text and be skippable on decode.
    specials = [tokens[i] for i, ty in enumerate(types) if ty == TOKEN_TYPE_CONTROL]
    tok.add_special_tokens([AddedToken(s, single_word=False, lstrip=False, rstrip=False,
                                       normalized=False, special=True) for s in specials])
    if tok.get_vocab_size(with_added_tokens=True) != len(tokens):
        fail("added tokens changed the vocabulary size")
    return tok, tokens


def build_tokenizer_config(meta, tokens):
    def tok_or_none(key):
        i = meta.get(key)
        return tokens[i] if i is not None else None

    cfg = {
        "tokenizer_class": "GPT2Tokenizer",
        "add_bos_token": bool(meta.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(meta.get("tokenizer.ggml.add_eos_token", False)),
        "add_prefix_space": False,
        "bos_token": tok_or_none("tokenizer.ggml.bos_token_id"),
        "eos_token": tok_or_none("tokenizer.ggml.eos_token_id"),
        "pad_token": tok_or_none("tokenizer.ggml.padding_token_id"),
        "unk_token": tok_or_none("tokenizer.ggml.unknown_token_id"),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(meta.req(f"{meta.req('general.architecture')}.context_length")),
    }
    template = meta.get("tokenizer.chat_template")
    if template:
        cfg["chat_template"] = template
    return cfg


def write_json(obj, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, ensure_ascii=False)
        fh.write("\n")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_complete(out):
    return all((out / f).is_file() and (out / f).stat().st_size > 0 for f in OUTPUT_FILES)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--force", action="store_true", help="rebuild even if --out is complete")
    args = ap.parse_args()

    out = args.out
    if is_complete(out) and not args.force:
        print(f"{out} is complete; nothing to do (--force rebuilds)")
        print(f"sha256(model.safetensors) = {sha256(out / 'model.safetensors')}")
        return
    if not args.gguf.is_file():
        fail(f"no such GGUF file: {args.gguf}")

    reader = GGUFReader(str(args.gguf))
    meta = Meta(reader)
    arch = meta.req("general.architecture")
    if arch != "llama":
        fail(f"architecture '{arch}' is not supported (llama only)")
    has_output = any(t.name == "output.weight" for t in reader.tensors)

    config = build_config(meta, arch, has_output)
    tok, tokens = build_tokenizer(meta)
    tok_cfg = build_tokenizer_config(meta, tokens)
    if config["vocab_size"] != len(tokens):
        fail(f"vocab_size {config['vocab_size']} != {len(tokens)} tokens")
    tensors = convert_tensors(reader, config["num_attention_heads"],
                              config["num_key_value_heads"], config["num_hidden_layers"])
    if tensors["model.embed_tokens.weight"].shape != (config["vocab_size"], config["hidden_size"]):
        fail("token embedding shape does not match vocab_size x hidden_size")

    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    write_json(config, tmp / "config.json")
    write_json(tok_cfg, tmp / "tokenizer_config.json")
    tok.save(str(tmp / "tokenizer.json"), pretty=True)
    write_safetensors(tensors, tmp / "model.safetensors")
    if not is_complete(tmp):
        fail(f"failed to write all of {OUTPUT_FILES} into {tmp}")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)  # atomic: `out` exists only once everything is written

    print(f"wrote {out}: {len(tensors)} tensors, config:")
    print(json.dumps(config, indent=2))
    print(f"sha256(model.safetensors) = {sha256(out / 'model.safetensors')}")


if __name__ == "__main__":
    main()
