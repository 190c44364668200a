#!/usr/bin/env python3
"""Write tiny random Hugging Face checkpoints plus Hugging Face reference outputs.

For every fixture below this creates tests/fixtures/<name>/ containing
  config.json, *.safetensors (+ model.safetensors.index.json when sharded),
  generation_config.json (left as transformers writes it) and reference.json.

reference.json holds, for two fixed prompts, the full-forward logits at every
prompt position, a 32-token greedy continuation and the raw logits of every
greedy step. All references come from transformers *re-reading the files it
just wrote* and computing in fp32 with eager attention, so they describe
"these files, evaluated in fp32", whatever dtype they are stored in.

Re-runnable: seeds are fixed, the fixture directories are wiped and rewritten,
and the output is the same on every run with the same library versions.
Checked-in fixtures were produced with torch 2.15.0 (CPU), transformers 5.24.0,
safetensors 0.8.0, numpy 2.4.6 on Python 3.11.

Usage: python scripts/make_reference_fixtures.py [--out tests/fixtures] [--only NAME ...]
"""

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
import transformers
from safetensors import safe_open
from transformers import (
    AutoModelForCausalLM,
    FalconConfig,
    FalconForCausalLM,
    GPT2LMHeadModel,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
)

REPO = Path(__file__).resolve().parent.parent
NEW_TOKENS = 32
MIN_MARGIN = 1e-3  # top-1 must beat top-2 by this much at every greedy step
MAX_SEED_TRIES = 50

# Two prompts per fixture: a multi-token one (exercises causal masking and
# RoPE positions) and a single token (the degenerate prefill case).
PROMPTS = [[1, 17, 42, 99, 128, 200, 255], [5]]

# name -> (model class, config kwargs, storage dtype, save_pretrained extras, base seed)
FIXTURES = {
    "llama_gqa_f32": (
        LlamaForCausalLM,
        dict(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
             rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False),
        torch.float32, {}, 1000,
    ),
    "llama_tied_f16": (
        LlamaForCausalLM,
        dict(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=128,
             rope_theta=1e6, rms_norm_eps=1e-5, tie_word_embeddings=True),
        torch.float16, {}, 2000,
    ),
    # Falcon-7B layout: one fused QKV with a single shared K/V head, one input LayerNorm.
    "falcon_mqa_f16": (
        FalconForCausalLM,
        dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=8,
             multi_query=True, new_decoder_architecture=False, parallel_attn=True,
             bias=False, alibi=False),
        torch.float16, {}, 3000,
    ),
    # Falcon-40B/180B layout: grouped fused QKV, ln_attn + ln_mlp; sharded on purpose.
    "falcon_gqa_bf16_sharded": (
        FalconForCausalLM,
        dict(vocab_size=256, hidden_size=64, num_hidden_layers=3, num_attention_heads=8,
             num_kv_heads=2, new_decoder_architecture=True, parallel_attn=True,
             bias=False, alibi=False),
        torch.bfloat16, {"max_shard_size": "100KB"}, 4000,
    ),
    # Sequential (non-parallel) Falcon block with biases everywhere, full MHA.
    "falcon_seq_bias_f32": (
        FalconForCausalLM,
        dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             multi_query=False, new_decoder_architecture=False, parallel_attn=False,
             bias=True, alibi=False),
        torch.float32, {}, 5000,
    ),
    # GPT-2 (GPT-SW3's architecture): learned positions, Conv1D weights, biases everywhere.
    # Tied, the tanh GELU, stored without the "transformer." prefix as the OpenAI uploads are.
    "gpt2_tied_f32": (
        GPT2LMHeadModel,
        dict(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_inner=160, n_positions=128,
             activation_function="gelu_new", tie_word_embeddings=True,
             scale_attn_by_inverse_layer_idx=False, bos_token_id=2, eos_token_id=3),
        torch.float32, {"strip_prefix": "transformer."}, 6300,
    ),
    # GPT-SW3's activation (erf GELU), an untied head, scores also divided by layer index + 1,
    # and the reordered fp32 score computation.
    "gpt2_untied_inverse_f16": (
        GPT2LMHeadModel,
        dict(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_inner=None, n_positions=128,
             activation_function="gelu", tie_word_embeddings=False,
             scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True, bos_token_id=2,
             eos_token_id=3),
        torch.float16, {}, 7000,
    ),
    # Unscaled scores (scale_attn_weights false), three layers, sharded.
    "gpt2_unscaled_bf16_sharded": (
        GPT2LMHeadModel,
        dict(vocab_size=256, n_embd=64, n_layer=3, n_head=8, n_inner=192, n_positions=64,
             activation_function="gelu_pytorch_tanh", tie_word_embeddings=True,
             scale_attn_weights=False, bos_token_id=2, eos_token_id=3),
        torch.bfloat16, {"max_shard_size": "100KB"}, 8000,
    ),
}

KEEP_FILES = {"config.json", "generation_config.json", "model.safetensors.index.json"}


def randomise(model, seed):
    """Overwrite every parameter so that no layout bug can hide behind 0/1 init.

    Matrices ~ N(0, 0.15); 1-D weights (RMSNorm/LayerNorm scales) ~ 1 + 0.1 N;
    biases ~ 0.1 N. Tied parameters appear once in named_parameters().
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith(".bias"):
                p.copy_(0.1 * noise)
            elif p.dim() == 1:
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.15 * noise)


def f32list(t):
    """Floats that round-trip float32 exactly (9 significant digits suffice)."""
    return [float(f"{x:.9g}") for x in t.to(torch.float32).tolist()]


def reference_for_prompt(model, ids):
    """Full-forward logits, greedy ids and raw greedy step logits for one prompt."""
    inp = torch.tensor([ids], dtype=torch.long)
    with torch.no_grad():
        full = model(input_ids=inp).logits[0]
    # Replace the checkpoint's generation config (it carries eos_token_id, which generate()
    # would merge back in and then mask via min_new_tokens). With eos None nothing stops early
    # and no logits processor runs, so output_logits are exactly what argmax chose from.
    model.generation_config = GenerationConfig(
        do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
        eos_token_id=None, bos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        out = model.generate(inp, attention_mask=torch.ones_like(inp), output_logits=True,
                             output_scores=True, return_dict_in_generate=True)
    assert all(torch.equal(l, s) for l, s in zip(out.logits, out.scores)), "a logits processor ran"
    greedy = out.sequences[0, len(ids):].tolist()
    steps = [l[0] for l in out.logits]
    assert len(greedy) == NEW_TOKENS and len(steps) == NEW_TOKENS

    min_margin = float("inf")
    for tok, logit in zip(greedy, steps):
        top2 = torch.topk(logit, 2)
        assert int(top2.indices[0]) == tok, "greedy token is not argmax of the raw logits"
        min_margin = min(min_margin, float(top2.values[0] - top2.values[1]))
    # Also require a margin on the full-forward argmax, so prompt-logit checks are robust.
    for row in full:
        top2 = torch.topk(row, 2)
        min_margin = min(min_margin, float(top2.values[0] - top2.values[1]))

    # Cross-check the KV-cache path against a cache-free forward over prompt+generation.
    with torch.no_grad():
        again = model(input_ids=out.sequences).logits[0, len(ids) - 1:-1]
    cache_diff = float((again - torch.stack(steps)).abs().max())
    assert cache_diff < 1e-3, f"cached vs uncached logits differ by {cache_diff}"

    rec = {
        "ids": list(ids),
        "logits": [f32list(r) for r in full],
        "greedy_ids": greedy,
        "greedy_step_logits": [f32list(r) for r in steps],
    }
    return rec, min_margin, cache_diff


def restore_without_prefix(path, prefix):
    """Rewrite a single-file checkpoint with `prefix` dropped from every tensor name."""
    from safetensors.torch import load_file, save_file
    tensors = load_file(path)
    save_file({k[len(prefix):] if k.startswith(prefix) else k: v for k, v in tensors.items()},
              path, metadata={"format": "pt"})


def describe_layout(d):
    """Print tensor names/shapes/dtypes exactly as stored in the safetensors files."""
    rows = []
    for f in sorted(d.glob("*.safetensors")):
        with safe_open(f, framework="pt") as sf:
            for k in sf.keys():
                sl = sf.get_slice(k)
                rows.append((k, sl.get_shape(), sl.get_dtype(), f.name))
    for k, shape, dt, fname in sorted(rows):
        print(f"    {k:55s} {str(shape):12s} {dt:5s} {fname}")


def build(name, out_root):
    cls, cfg_kwargs, dtype, save_kwargs, base_seed = FIXTURES[name]
    d = out_root / name
    for attempt in range(MAX_SEED_TRIES):
        seed = base_seed + attempt
        torch.manual_seed(seed)
        model = cls(cls.config_class(**cfg_kwargs)).eval()
        randomise(model, seed)

        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        save_kwargs = dict(save_kwargs)
        strip_prefix = save_kwargs.pop("strip_prefix", None)
        model.to(dtype).save_pretrained(d, safe_serialization=True, **save_kwargs)
        for f in d.iterdir():  # keep only what a real checkpoint needs
            if f.name not in KEEP_FILES and f.suffix != ".safetensors":
                f.unlink() if f.is_file() else shutil.rmtree(f)
        if strip_prefix:
            restore_without_prefix(d / "model.safetensors", strip_prefix)

        ref = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32,
                                                   attn_implementation="eager").eval()
        prompts, margins, cdiffs = [], [], []
        for ids in PROMPTS:
            rec, margin, cdiff = reference_for_prompt(ref, ids)
            prompts.append(rec)
            margins.append(margin)
            cdiffs.append(cdiff)
        if min(margins) >= MIN_MARGIN:
            break
        print(f"  {name}: seed {seed} has a near-tie (margin {min(margins):.2e}); retrying")
    else:
        sys.exit(f"{name}: no seed in {MAX_SEED_TRIES} tries gave top-1/top-2 margins >= {MIN_MARGIN}")

    doc = {
        "fixture": name,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": seed,
        "prompts": prompts,
    }
    with open(d / "reference.json", "w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")

    print(f"== {name}: seed {seed}, stored {str(dtype).replace('torch.', '')}, "
          f"min top1-top2 margin {min(margins):.4f}, cache-vs-full max diff {max(cdiffs):.2e}")
    for p in prompts:
        print(f"    prompt {p['ids']} -> greedy {p['greedy_ids']}")
    describe_layout(d)
    for f in sorted(d.iterdir()):
        print(f"    {f.name:40s} {f.stat().st_size:>9d} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures")
    ap.add_argument("--only", nargs="*", choices=sorted(FIXTURES), default=None)
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # fixed reduction order -> identical floats each run
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    for name in args.only or FIXTURES:
        build(name, args.out)

    total = 0
    for name in FIXTURES:
        d = args.out / name
        if d.exists():
            size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            total += size
            print(f"{name:28s} {size / 1024:8.1f} KiB")
    print(f"{'total':28s} {total / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
