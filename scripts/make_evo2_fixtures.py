#!/usr/bin/env python3
"""Write tiny random StripedHyena 2 (Evo 2) checkpoints plus vtx reference outputs.

For every fixture below this creates tests/fixtures/<name>/ containing
  config.json        the evo2 yml keys (verbatim names) of the shrunk configuration,
                     plus "architectures": ["StripedHyena2"] and a few derived fields;
  model.safetensors  fp32 weights in the layout of the published evo2 .pt checkpoints
                     (vtx's state_dict names; Wqkv rows interleaved per head as in the
                     checkpoint, which vtx permutes when it loads it);
  reference.json     for each DNA prompt: the byte-level ids (CharLevelTokenizer), the
                     logits at every prompt position, 32 greedy tokens with each step's
                     logits and margin, evo2's sequence scores, and how vtx's recurrent
                     (cached) decoding compares with re-running the whole prefix.

The reference is vtx==1.1.0 (the package evo2==0.6.0 runs the published models with),
computing in fp32 on the CPU, after re-reading the files written here through vtx's own
checkpoint conversion (StripedHyena.custom_load_state_dict).

vtx is written for CUDA. It runs on the CPU with three patches applied here, in this
script, never in the installed package:
  1. an empty module stands in for `flash_attn_2_cuda` (vortex.ops imports it at import
     time; use_flash_attn is False, so nothing from it is called);
  2. torch.cuda.device accepts a CPU device (or None) and then does nothing (vtx enters
     `with torch.cuda.device(x.device)` around the input projections and when building
     blocks);
  3. vortex.model.rotary.apply_rotary (a Triton kernel) is replaced by a wrapper around
     the package's own apply_rotary_emb_torch with the kernel's semantics (cos/sin rows
     from seqlen_offsets on, conjugate = -sin, in place when asked).
  4. FP8 fixtures only: each Hyena block's `projections` becomes TE's FP8 Linear written in
     torch (scripts/te_fp8.py), since vtx refuses use_fp8_input_projections without TE.
Everything else (prefill, cached generation, the modal-FFT state prefill, evo2's
scoring function) is the packages' code as installed. (vortex is imported from a scratch
directory only because vortex/logging.py creates activations_debug.log in the working
directory.)

Each fixture is then checked against scripts/evo2_spec_check.py, docs/evo2.md written as
plain torch code that reads only config.json and model.safetensors.

Re-runnable: seeds are fixed, the fixture directories are wiped and rewritten.

Usage: python scripts/make_evo2_fixtures.py [--out tests/fixtures] [--only NAME ...]
"""

import argparse
import atexit
import copy
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # vtx and evo2 draw progress bars

# ---- CPU patch 1: vortex.ops imports flash_attn_2_cuda unconditionally. -------------
sys.modules.setdefault("flash_attn_2_cuda", types.ModuleType("flash_attn_2_cuda"))

import torch  # noqa: E402

# ---- CPU patch 2: torch.cuda.device that tolerates CPU devices. ----------------------
_RealCudaDevice = torch.cuda.device


def _is_cpu_device(device):
    if device is None:
        return True
    if isinstance(device, int):
        return device < 0
    return torch.device(device).type == "cpu"


class _CpuTolerantCudaDevice(_RealCudaDevice):
    def __init__(self, device):
        self._cpu_noop = _is_cpu_device(device)
        if self._cpu_noop:
            self.idx = -1
            self.prev_idx = -1
        else:
            super().__init__(device)

    def __enter__(self):
        if self._cpu_noop:
            return self
        return super().__enter__()

    def __exit__(self, *exc):
        if self._cpu_noop:
            return False
        return super().__exit__(*exc)


torch.cuda.device = _CpuTolerantCudaDevice

# vortex/logging.py opens "activations_debug.log" in the working directory on import:
# import vortex from a scratch directory so that file lands there, not in the checkout.
_SCRATCH = tempfile.mkdtemp(prefix="evo2-fixtures-")
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
_CWD = os.getcwd()
os.chdir(_SCRATCH)

# ---- CPU patch 3: the Triton rotary kernel, as torch code. --------------------------
import vortex.model.rotary as vortex_rotary  # noqa: E402


def _apply_rotary_cpu(x, cos, sin, seqlen_offsets=0, cu_seqlens=None, max_seqlen=None,
                      interleaved=False, inplace=False, conjugate=False):
    """Same contract as vortex.ops.embedding.rotary.apply_rotary (the Triton kernel):
    x (batch, seqlen, nheads, headdim); cos/sin (seqlen_ro, rotary_dim/2); row
    seqlen_offsets + i of cos/sin rotates position i; the first rotary_dim channels are
    rotated, the rest copied."""
    if cu_seqlens is not None:
        raise NotImplementedError("varlen rotary is not used by this script")
    seqlen = x.shape[1]
    if isinstance(seqlen_offsets, torch.Tensor):
        idx = seqlen_offsets.to(torch.long)[:, None] + torch.arange(seqlen, device=x.device)[None]
        c, s = cos[idx], sin[idx]  # (batch, seqlen, rotary_dim/2)
    else:
        assert seqlen_offsets + seqlen <= cos.shape[0]
        c = cos[seqlen_offsets:seqlen_offsets + seqlen]
        s = sin[seqlen_offsets:seqlen_offsets + seqlen]
    if conjugate:
        s = -s
    out = vortex_rotary.apply_rotary_emb_torch(x, c, s, interleaved=interleaved)
    if inplace:
        x.copy_(out)
        return x
    return out


vortex_rotary.apply_rotary = _apply_rotary_cpu

import vortex.model.model as vortex_model  # noqa: E402
from vortex.model.generation import Generator  # noqa: E402
from vortex.model.model import StripedHyena  # noqa: E402
from vortex.model.tokenizer import CharLevelTokenizer  # noqa: E402
from vortex.model.utils import dotdict  # noqa: E402

os.chdir(_CWD)

import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evo2_spec_check  # noqa: E402
import te_fp8  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NEW_TOKENS = 32
MIN_MARGIN = 1e-3  # top-1 must beat top-2 by this much at every greedy step
MAX_SEED_TRIES = 50
# FP8 fixtures: every quantized activation at least this far (in E4M3 steps) from a rounding
# midpoint, so llmpi's activations (equal to vtx's within ~1e-6 relative) round the same way.
FP8_MIN_MIDPOINT_DISTANCE = 1e-4
BASE_YML = "evo2-40b-1m.yml"  # the published evo2_40b configuration, from the evo2 package

DTYPE_KEYS = ("attn_block_dtype", "hyena_block_dtype", "mlp_dtype")


def evo2_package_dir():
    # find_spec does not execute evo2/__init__.py (which imports huggingface_hub).
    spec = importlib.util.find_spec("evo2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the evo2 package is not installed (pip install --no-deps evo2==0.6.0)")
    return Path(list(spec.submodule_search_locations)[0])


def load_evo2_scoring():
    """evo2/scoring.py loaded as a lone module, without evo2/__init__.py."""
    path = evo2_package_dir() / "scoring.py"
    spec = importlib.util.spec_from_file_location("evo2_scoring", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def base_config():
    with open(evo2_package_dir() / "configs" / BASE_YML) as f:
        return yaml.safe_load(f)


# Everything that is not listed keeps the evo2-40b-1m value. Keys that must change to run
# in fp32 on the CPU without Transformer Engine: use_fp8_input_projections, use_flash_attn.
COMMON_OVERRIDES = dict(
    use_fp8_input_projections=False,
    use_flash_attn=False,
    max_seqlen=1024,
    # vtx-only keys (not in the yml), read with config.get(...): block dtypes (default
    # bf16). Written to config.json as strings.
    attn_block_dtype=torch.float32,
    hyena_block_dtype=torch.float32,
    mlp_dtype=torch.float32,
)

ACGT = "ACGT"

# name -> (overrides of the evo2-40b-1m yml, tie, prompts (DNA strings), base seed, notes)
FIXTURES = {
    # evo2-40b-1m shrunk: same block pattern as its first layers, same rotary settings
    # (base 1e6, linear interpolation by 128), tied embeddings, state_size 16.
    "evo2_tiny_f32": dict(
        overrides=dict(
            model_name="tiny-evo2-40b-1m-shape",
            hidden_size=32, num_filters=32, num_attention_heads=2,
            num_layers=8,
            hcs_layer_idxs=[0, 4], hcm_layer_idxs=[1, 5], hcl_layer_idxs=[2, 6],
            attn_layer_idxs=[3, 7],
            hcs_filter_groups=8, hcm_filter_groups=8, hcl_filter_groups=32,
            inner_mlp_size=88,
            state_size=16,
        ),
        prompts=["ACGTTGCATGCA", "GAT"],
        seed=5100,
        notes="evo2-40b-1m.yml with hidden 32, 2 heads, 8 layers (hcs,hcm,hcl,attn x2), "
              "groups of 4 channels for hcs/hcm filters; tied embeddings.",
    ),
    # Another block order (attention first, so the first MLP -- the only one with GELU --
    # belongs to an attention block), evo2-7b-8k rotary (base 1e4, no interpolation),
    # 3 heads (odd, as evo2_1b's 15), untied output embedding, small state.
    "evo2_tiny_untied_f32": dict(
        overrides=dict(
            model_name="tiny-evo2-7b-8k-shape-untied",
            hidden_size=24, num_filters=24, num_attention_heads=3,
            num_layers=6,
            attn_layer_idxs=[0, 5], hcl_layer_idxs=[1, 4], hcm_layer_idxs=[2],
            hcs_layer_idxs=[3],
            hcs_filter_groups=6, hcm_filter_groups=24, hcl_filter_groups=24,
            inner_mlp_size=64,
            state_size=4,
            rotary_emb_base=10000,
            use_interpolated_rotary_pos_emb=False,
            rotary_emb_scaling_factor=None,  # removed below (absent from evo2-7b-8k.yml)
            tie_embeddings=False,
        ),
        prompts=["TTAGGCATCAGGCTAACG", "C"],
        seed=6100,
        notes="hidden 24, attention first, 7b-8k rotary (base 10000, no interpolation), "
              "3 heads of 8, state_size 4, hcm groups of 1 channel, untied unembedding; "
              "a 1-token prompt.",
    ),
    # evo2-40b-1m's FP8 input projections (use_fp8_input_projections: true), emulated as
    # TE's E4M3 GEMM in torch (scripts/te_fp8.py): vtx cannot run them without TE and CUDA.
    # Greedy steps are vtx's cached decoding (one projection call per token), not the full
    # recompute: FP8 scales each call, so the two differ by design. Prompts of at least 6
    # bases, where vtx's cached decoding is exact (its FIR windows are full).
    "evo2_tiny_fp8_f32": dict(
        overrides=dict(
            model_name="tiny-evo2-40b-1m-shape-fp8",
            hidden_size=32, num_filters=32, num_attention_heads=2,
            num_layers=4,
            hcs_layer_idxs=[0], hcm_layer_idxs=[1], hcl_layer_idxs=[2], attn_layer_idxs=[3],
            hcs_filter_groups=8, hcm_filter_groups=8, hcl_filter_groups=32,
            inner_mlp_size=88,
            state_size=16,
        ),
        prompts=["ACGTTGCATGCA", "TTGACA"],
        seed=8100,
        fp8=True,
        notes="evo2-40b-1m.yml with hidden 32, 2 heads, 4 layers (hcs,hcm,hcl,attn), FP8 "
              "input projections emulated as TE's E4M3 GEMM (scripts/te_fp8.py); greedy "
              "steps from vtx's cached decoding.",
    ),
    # One prompt long enough that prompt + 32 generated tokens (132) exceed the medium
    # filter's 128 taps: the hcm recurrent state fills its 127-entry window and rolls.
    "evo2_tiny_long_f32": dict(
        overrides=dict(
            model_name="tiny-evo2-long-window",
            hidden_size=16, num_filters=16, num_attention_heads=2,
            num_layers=4,
            hcs_layer_idxs=[0], hcm_layer_idxs=[1], hcl_layer_idxs=[2], attn_layer_idxs=[3],
            hcs_filter_groups=4, hcm_filter_groups=4, hcl_filter_groups=16,
            inner_mlp_size=48,
            state_size=8,
        ),
        prompts=None,  # one random 100-base prompt, drawn from the seed
        long_prompt_length=100,
        seed=7100,
        notes="hidden 16, 4 layers (hcs,hcm,hcl,attn), one 100-base prompt: the 132 "
              "positions exceed the 128-tap medium filter.",
    ),
}


def make_config(spec):
    cfg = base_config()
    cfg.update(COMMON_OVERRIDES)
    for k, v in spec["overrides"].items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    # sanity: every layer has exactly one kind
    kinds = {}
    for key in ("hcs_layer_idxs", "hcm_layer_idxs", "hcl_layer_idxs", "attn_layer_idxs"):
        for i in cfg[key]:
            assert i not in kinds, (i, key)
            kinds[i] = key
    assert sorted(kinds) == list(range(cfg["num_layers"])), kinds
    return cfg


def config_json(cfg, name):
    """config.json: every yml key verbatim plus what llmpi needs to dispatch."""
    out = {
        "architectures": ["StripedHyena2"],
        "model_type": "stripedhyena2",
        "reference_implementation": "vtx==1.1.0 (vortex.model.model.StripedHyena)",
        "base_config": f"evo2==0.6.0 evo2/configs/{BASE_YML}, shrunk",
        "torch_dtype": "float32",
    }
    for k, v in cfg.items():
        if isinstance(v, torch.dtype):
            v = str(v).replace("torch.", "")
        out[k] = v
    # Derived, for readers; vtx computes these itself.
    kinds = []
    for i in range(cfg["num_layers"]):
        for key, kind in (("hcs_layer_idxs", "hcs"), ("hcm_layer_idxs", "hcm"),
                          ("hcl_layer_idxs", "hcl"), ("attn_layer_idxs", "attn")):
            if i in cfg[key]:
                kinds.append(kind)
    out["layer_kinds"] = kinds
    out["head_dim"] = cfg["hidden_size"] // cfg["num_attention_heads"]
    out["fixture"] = name
    return out


def vtx_config(cfg):
    return dotdict(copy.deepcopy(cfg))


def build_model(cfg):
    """A fresh StripedHyena on the CPU, every parameter and buffer in fp32.

    vtx creates the Hyena input projections (TELinear fallback) in bf16 whatever the
    block dtype; .float() keeps the fp32 weights loaded below exact."""
    torch.manual_seed(0)  # vtx's own random init is overwritten by the checkpoint
    model = StripedHyena(vtx_config(cfg))
    model = model.float().eval()
    return model


def random_checkpoint(model, cfg, seed):
    """Random fp32 weights for every state_dict entry, with magnitudes that keep each
    block's contribution O(1); attention Wqkv rows in checkpoint (per-head q,k,v) order."""
    g = torch.Generator().manual_seed(seed)
    H = cfg["hidden_size"]

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    ckpt = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if name.endswith("rotary_emb.inv_freq"):
            ckpt[name] = t.detach().clone().float()  # derived from base and head_dim
        elif name.endswith(".scale"):  # RMSNorm gains
            ckpt[name] = 1.0 + randn(*shape, std=0.1)
        elif name in ("embedding_layer.weight", "unembed.weight"):
            ckpt[name] = randn(*shape, std=0.5)
        elif name.endswith("filter.short_filter_weight"):  # (3H, 1, 3)
            ckpt[name] = randn(*shape, std=1.0 / math.sqrt(shape[-1]))
        elif name.endswith("filter.h"):  # hcs (G,1,7) or hcm (G,1,128)
            n = shape[-1]
            if n >= 128:
                decay = torch.exp(-torch.arange(n, dtype=torch.float32) / 16.0)
                ckpt[name] = randn(*shape) * decay / math.sqrt(8.0)
            else:
                ckpt[name] = randn(*shape, std=1.0 / math.sqrt(n))
        elif name.endswith("filter.D"):
            ckpt[name] = randn(*shape, std=0.5)
        elif name.endswith("filter.log_poles"):  # (H, S, 1), real; poles exp(.) in (0.37, 0.98)
            u = torch.rand(*shape, generator=g, dtype=torch.float32)
            ckpt[name] = -torch.exp(math.log(0.02) + u * (math.log(1.0) - math.log(0.02)))
        elif name.endswith("filter.residues"):  # (H, S)
            ckpt[name] = randn(*shape, std=0.1)
        elif name.endswith(".bias"):
            ckpt[name] = randn(*shape, std=0.1)
        elif name.endswith(".weight") and len(shape) == 2:
            ckpt[name] = randn(*shape, std=1.0 / math.sqrt(shape[1]))
        else:
            raise RuntimeError(f"no initialiser for {name} {shape}")
    assert not any(k.endswith("_extra_state") for k in ckpt)
    return {k: v.contiguous() for k, v in ckpt.items()}


def qkv_checkpoint_to_model(w, heads):
    """What custom_load_state_dict does to Wqkv (column_split): per-head [q;k;v] rows ->
    [Q;K;V] rows. Independent re-implementation, used to check vtx's."""
    three_h_hd, H = w.shape
    hd = three_h_hd // (3 * heads)
    w = w.reshape(heads, 3, hd, H)
    return torch.cat([w[:, 0].reshape(-1, H), w[:, 1].reshape(-1, H), w[:, 2].reshape(-1, H)])


def load_fixture_model(cfg, path):
    model = build_model(cfg)
    state = load_file(str(path))
    model.custom_load_state_dict(state, strict=True)
    # Everything is fp32 and every tensor was loaded as stored (bar Wqkv's permutation).
    sd = model.state_dict()
    for k, v in state.items():
        assert sd[k].dtype == torch.float32, k
        if k.endswith("inner_mha_cls.Wqkv.weight"):
            assert torch.equal(sd[k], qkv_checkpoint_to_model(v, cfg["num_attention_heads"])), k
        else:
            assert torch.equal(sd[k], v), k
    return model


def forward_logits(model, ids):
    with torch.inference_mode():
        logits, _ = model(torch.tensor([ids], dtype=torch.long))
    return logits[0].float()


def margin(row):
    top2 = torch.topk(row, 2).values
    return float(top2[0] - top2[1])


def rel_diff_rows(a, b):
    """max over rows of ||a - b|| / ||b||, and the max abs difference."""
    a = a.double()
    b = b.double()
    rel = ((a - b).norm(dim=-1) / b.norm(dim=-1)).max().item()
    return rel, (a - b).abs().max().item()


def greedy_full_recompute(model, ids):
    """32 greedy tokens, each step re-running the whole prefix (stateless forward)."""
    seq = list(ids)
    toks, step_logits, margins = [], [], []
    for _ in range(NEW_TOKENS):
        row = forward_logits(model, seq)[-1]
        t = int(torch.argmax(row))
        toks.append(t)
        step_logits.append(row)
        margins.append(margin(row))
        seq.append(t)
    return toks, torch.stack(step_logits), margins


def greedy_vtx(model, tokenizer, ids, cached):
    """vtx's own Generator (what evo2's generate uses), greedy (top_k=1)."""
    g = Generator(model, tokenizer, top_k=1, top_p=1.0, temperature=1.0)
    with torch.inference_mode():
        gen, scores, _ = g.generate(
            device="cpu",
            input_ids=torch.tensor([ids], dtype=torch.long),
            num_tokens=NEW_TOKENS,
            cached_generation=cached,
            force_prompt_threshold=None,
            print_generation=False,
            verbose=False,
            stop_at_eos=False,
        )
    return [int(t) for t in gen[0]], scores[0].float()


def emulate_fp8_projections(model):
    """CPU patch 4 (FP8 fixtures only): each Hyena block's input projection becomes TE's FP8
    Linear written in torch (scripts/te_fp8.py), on the weight vtx loaded."""
    layers = []
    for block in model.blocks:
        if hasattr(block, "projections") and hasattr(block, "filter"):
            block.projections = te_fp8.Fp8Linear(block.projections.weight)
            layers.append(block.projections)
    assert layers
    return layers


def vtx_bf16_deviation(cfg, path, records, fp8):
    """How far vtx's own run in the published precision (bf16 blocks and weights, fp32 poles
    and residues: to_bfloat16_except_pr_lc, as evo2 loads a checkpoint) puts the prompt
    logits from the fp32 reference (max over prompts of the rows' relative error), and its
    prepend_bos sequence scores from evo2's (max relative difference). Tiny random
    models amplify rounding, so this, not a fixed bf16 bound, is what a bf16 backend can be
    held to (tests/support/reference_fixture.hpp, bf16_tolerance)."""
    cfg16 = dict(cfg)
    for key in DTYPE_KEYS:
        cfg16[key] = torch.bfloat16
    torch.manual_seed(0)
    model = StripedHyena(vtx_config(cfg16)).eval()
    model.custom_load_state_dict(load_file(str(path)), strict=True)
    model.to_bfloat16_except_pr_lc(to_float32=True)
    if fp8:
        emulate_fp8_projections(model)
    worst_logits = 0.0
    worst_score = 0.0
    for rec in records:
        want = torch.tensor(rec["logits"], dtype=torch.float32)
        worst_logits = max(worst_logits, rel_diff_rows(forward_logits(model, rec["ids"]), want)[0])
        # evo2's score with prepend_bos=True: the eod id 0 in front, every token scored.
        lp = torch.log_softmax(forward_logits(model, [0] + rec["ids"]).double(), dim=-1)
        score = float(sum(lp[i, t] for i, t in enumerate(rec["ids"])))
        want_score = rec["score"]["sum_bos"]
        worst_score = max(worst_score, abs(score - want_score) / abs(want_score))
    return worst_logits, worst_score


def fp8_reset(layers):
    for layer in layers:
        layer.closest = 0.5


def fp8_closest(layers):
    """The smallest midpoint distance (E4M3 steps) the FP8 layers met since fp8_reset."""
    return min((layer.closest for layer in layers), default=0.5)


class zero_padded_fir_states:
    """Diagnostic only (never used for the reference): vtx's prefill keeps the last
    min(L, filter_length - 1) FIR inputs, and HyenaInferenceEngine.step_fir then slices
    the filter to that many taps + 1 *from the front* (flip_filter False: the short
    featurizer FIR and hcs), so after a prompt shorter than filter_length - 1 the first
    decode steps use the wrong taps. Padding the state on the left with zeros (the
    inputs before position 0) makes step_fir compute the causal convolution; if the
    cached decode then matches the full recompute, that was the whole difference."""

    def __enter__(self):
        engine = vortex_model.HyenaInferenceEngine
        self.orig = engine.step_fir
        orig = self.orig

        def step_fir(eng, u, fir_state, weight, bias=None, gated_bias=False, flip_filter=False):
            need = weight.squeeze().shape[-1] - 1
            if fir_state.shape[-1] < need:
                fir_state = torch.nn.functional.pad(fir_state, (need - fir_state.shape[-1], 0))
            return orig(eng, u, fir_state, weight, bias=bias, gated_bias=gated_bias,
                        flip_filter=flip_filter)

        engine.step_fir = step_fir
        return self

    def __exit__(self, *exc):
        vortex_model.HyenaInferenceEngine.step_fir = self.orig
        return False


def evo2_scores(scoring, model, tokenizer, seq):
    """evo2.scoring.score_sequences exactly as Evo2.score_sequences calls it (batch 1)."""
    out = {}
    with torch.no_grad():
        for bos in (False, True):
            for reduce in ("mean", "sum"):
                (s,) = scoring.score_sequences([seq], model=model, tokenizer=tokenizer,
                                               batch_size=1, prepend_bos=bos,
                                               reduce_method=reduce, device="cpu")
                out[f"{reduce}{'_bos' if bos else ''}"] = float(s)
    return out


def token_logprobs(logits, ids):
    """log p(ids[i] | ids[:i]) for i >= 1 from the prefill logits (fp32 log_softmax,
    as evo2's logits_to_logprobs)."""
    lp = torch.log_softmax(logits, dim=-1)
    return [float(lp[i - 1, ids[i]]) for i in range(1, len(ids))]


def f32list(t):
    """fp32 values as the shortest decimal strings that read back to the same float32."""
    a = t.detach().cpu().numpy().astype(np.float32)
    if a.ndim == 1:
        return [float(np.format_float_positional(x, unique=True, trim="-"))
                if abs(x) >= 1e-4 or x == 0 else float(np.format_float_scientific(x, unique=True))
                for x in a]
    return [f32list(torch.from_numpy(r)) for r in a]


def prompt_strings(spec, seed):
    if spec["prompts"] is not None:
        return spec["prompts"]
    rng = np.random.default_rng(seed)
    return ["".join(ACGT[i] for i in rng.integers(0, 4, spec["long_prompt_length"]))]


# What consumes each tensor (docs/evo2.md has the equations). Keyed by name suffix.
TENSOR_ROLES = [
    ("embedding_layer.weight", "token embedding (vocab, H); also the output head when "
     "tie_embeddings (logits = final_norm(x) @ W^T)"),
    ("unembed.weight", "untied output head (vocab, H): logits = final_norm(x) @ W^T"),
    ("pre_norm.scale", "RMSNorm gain before the mixer (hyena operator or attention)"),
    ("post_norm.scale", "RMSNorm gain before the MLP"),
    ("projections.weight", "hyena input projection (3H, H), no bias; FP8 (TE) in the "
     "published 40B, a plain GEMM here"),
    ("filter.short_filter_weight", "depthwise causal FIR (3H, 1, short_filter_length) on "
     "the 3H projections, conv1d cross-correlation: tap [-1] multiplies the current token"),
    ("filter.h#hcs", "hcs explicit filter (G, 1, hcs_filter_length), conv1d convention: "
     "tap [-1] multiplies lag 0; channel c uses row c // (H / G)"),
    ("filter.h#hcm", "hcm explicit filter (G, 1, hcm_filter_length), convolution "
     "convention: tap [0] multiplies lag 0; channel c uses row c // (H / G)"),
    ("filter.D", "skip term (H): y += D * (x1 * v); hcm and hcl only"),
    ("filter.log_poles", "hcl: log of the real modal poles (H, state_size, 1); "
     "h[c, t] = sum_s residues[c, s] * exp(log_poles[c, s] * t)"),
    ("filter.residues", "hcl: modal residues (H, state_size)"),
    ("out_filter_dense.weight", "hyena output projection (H, H)"),
    ("out_filter_dense.bias", "hyena output projection bias (hyena_out_proj_bias)"),
    ("inner_mha_cls.Wqkv.weight", "attention QKV (3H, H), no bias; rows in checkpoint "
     "order: for each head, its q, k, v rows (vtx permutes them to [Q; K; V] on load)"),
    ("inner_mha_cls.out_proj.weight", "attention output projection (H, H)"),
    ("inner_mha_cls.out_proj.bias", "attention output projection bias (mha_out_proj_bias)"),
    ("inner_mha_cls.rotary_emb.inv_freq", "rotary inverse frequencies base^(-2j/head_dim), "
     "j < head_dim/2 (a buffer vtx saves; recomputable)"),
    ("mlp.l1.weight", "gated MLP first branch (I, H): act(l1 x) * (l2 x); act = GELU in "
     "layer 0, identity elsewhere (evo2_style_activations)"),
    ("mlp.l2.weight", "gated MLP gate branch (I, H)"),
    ("mlp.l3.weight", "gated MLP output (H, I)"),
]


def tensor_role(name, shape):
    if name == "norm.scale":
        return "final RMSNorm gain"
    if name.endswith("filter.h"):
        name += "#hcm" if shape[-1] >= 128 else "#hcs"
    for suffix, role in TENSOR_ROLES:
        if name.endswith(suffix):
            return role
    raise RuntimeError(f"no role for {name}")


def sort_key(name):
    if name.startswith("blocks."):
        return (1, int(name.split(".")[1]), name)
    return (0 if name.startswith("embedding") else 2, 0, name)


def write_readme(fdir, name, spec, cfg, ckpt, seed, prompts):
    kinds = config_json(cfg, name)["layer_kinds"]
    lines = [
        f"# {name}",
        "",
        "Written by `scripts/make_evo2_fixtures.sh` (do not edit by hand): a tiny random",
        "StripedHyena 2 (Evo 2) and the outputs of its reference implementation, vtx 1.1.0,",
        "in fp32 on the CPU. The architecture, the recurrent form and the published",
        "checkpoint are described in [docs/evo2.md](../../../docs/evo2.md).",
        "",
        f"- {spec['notes']}",
        f"- layers: {', '.join(f'{i} {k}' for i, k in enumerate(kinds))}",
        f"- weight seed {seed}; prompts: " + ", ".join(
            f"`{p if len(p) <= 24 else p[:24] + '...'}` ({len(p)} base{'s' if len(p) > 1 else ''})"
            for p in prompts),
        "- `config.json`: the evo2 yml keys verbatim (evo2-40b-1m.yml with the changes "
        "above), plus `architectures`, `layer_kinds`, `head_dim` and the vtx block dtypes.",
        "- `model.safetensors`: fp32, named as vtx's `StripedHyena.state_dict()` and laid "
        "out as the published `.pt` checkpoints (attention `Wqkv` rows per head).",
        "- `reference.json`: per prompt `ids`, `logits` (every prompt position), "
        "`greedy_ids` / `greedy_step_logits` / `greedy_margins` (32 steps, "
        + ("vtx's cached decoding: one FP8 projection call per token" if spec.get("fp8")
           else "each step re-running the whole prefix")
        + "), `token_logprobs` and `score` (evo2's "
        "`score_sequences`), and `recurrent_check` (vtx's cached decoding against the "
        "full recompute).",
        "",
        "| tensor | shape | consumed by |",
        "| --- | --- | --- |",
    ]
    for k in sorted(ckpt, key=sort_key):
        role = tensor_role(k, ckpt[k].shape)
        if spec.get("fp8"):
            role = role.replace("a plain GEMM here", "emulated here (scripts/te_fp8.py)")
        lines.append(f"| `{k}` | {list(ckpt[k].shape)} | {role} |")
    (fdir / "README.md").write_text("\n".join(lines) + "\n")


def make_fixture(name, spec, out_dir, scoring, tokenizer):
    t0 = time.time()
    cfg = make_config(spec)
    fdir = out_dir / name
    last_err = None
    tries = MAX_SEED_TRIES * (4 if spec.get("fp8") else 1)  # the midpoint rule rejects more
    for attempt in range(tries):
        seed = spec["seed"] + attempt
        if fdir.exists():
            shutil.rmtree(fdir)
        fdir.mkdir(parents=True)
        model0 = build_model(cfg)
        ckpt = random_checkpoint(model0, cfg, seed)
        del model0
        save_file(ckpt, str(fdir / "model.safetensors"), metadata={"format": "pt"})
        fp8 = spec.get("fp8", False)
        written = config_json(cfg, name)
        # vtx itself runs with use_fp8_input_projections False (it refuses True without TE);
        # the emulation below stands in for TE, and llmpi reads True.
        written["use_fp8_input_projections"] = fp8
        with open(fdir / "config.json", "w") as f:
            json.dump(written, f, indent=2)
            f.write("\n")

        # Everything below comes from re-reading the files just written.
        model = load_fixture_model(cfg, fdir / "model.safetensors")
        fp8_layers = emulate_fp8_projections(model) if fp8 else []
        prompts = prompt_strings(spec, seed)
        records = []
        ok = True
        closest = 0.5  # FP8: the recorded runs' smallest midpoint distance
        for text in prompts:
            ids = [int(t) for t in tokenizer.tokenize(text)]
            fp8_reset(fp8_layers)
            logits = forward_logits(model, ids)
            closest = min(closest, fp8_closest(fp8_layers))
            toks, step_logits, margins = greedy_full_recompute(model, ids)
            if fp8:
                # The reference steps are vtx's cached decoding: llmpi's (and TE's) calls.
                fp8_reset(fp8_layers)
                toks, step_logits = greedy_vtx(model, tokenizer, ids, cached=True)
                closest = min(closest, fp8_closest(fp8_layers))
                margins = [margin(row) for row in step_logits]
            if min(margins) < MIN_MARGIN:
                ok = False
                last_err = f"seed {seed}: greedy margin {min(margins):.2e} on {text!r}"
                break
            # Causality check: one forward over prompt + 31 greedy tokens reproduces the
            # prompt logits and every step's logits.
            whole = forward_logits(model, ids + toks[:-1])
            causal_rel, _ = rel_diff_rows(whole[len(ids) - 1:], step_logits)
            prefix_rel, _ = rel_diff_rows(whole[:len(ids)], logits)

            cached_toks, cached_scores = greedy_vtx(model, tokenizer, ids, cached=True)
            uncached_toks, uncached_scores = greedy_vtx(model, tokenizer, ids, cached=False)
            rec_rel, rec_abs = rel_diff_rows(cached_scores, step_logits)
            unc_rel, unc_abs = rel_diff_rows(uncached_scores, step_logits)
            first_diverge = next((i for i, (a, b) in enumerate(zip(cached_toks, toks)) if a != b), None)
            with zero_padded_fir_states():
                pad_toks, pad_scores = greedy_vtx(model, tokenizer, ids, cached=True)
            pad_rel, pad_abs = rel_diff_rows(pad_scores, step_logits)
            # The recurrent form must equal the full recompute: always with zero-padded FIR
            # states, and with vtx's own states once the prompt fills the FIR windows. With
            # FP8 each call has its own scale, so only the cached runs must agree.
            long_enough = len(ids) >= max(cfg["short_filter_length"], cfg["hcs_filter_length"]) - 1
            if fp8:
                assert long_enough and pad_rel <= 1e-4 and pad_toks == toks, (name, text, pad_rel)
            else:
                assert pad_rel <= 1e-4 and pad_toks == toks, (name, text, pad_rel)
                if long_enough:
                    assert rec_rel <= 1e-4 and cached_toks == toks, (name, text, rec_rel)
                assert unc_rel <= 1e-6 and uncached_toks == toks, (name, text, unc_rel)
                assert causal_rel <= 1e-4 and prefix_rel <= 1e-4, (name, text, causal_rel,
                                                                   prefix_rel)

            fp8_reset(fp8_layers)
            scores = evo2_scores(scoring, model, tokenizer, text)
            closest = min(closest, fp8_closest(fp8_layers))
            lps = token_logprobs(logits, ids)
            mine = {"mean": float(np.mean(np.array(lps, dtype=np.float32))) if lps else math.nan,
                    "sum": float(np.sum(np.array(lps, dtype=np.float32)))}
            for k in ("mean", "sum"):
                if math.isnan(scores[k]):  # a 1-token sequence: nothing is scored
                    assert len(ids) == 1 and math.isnan(mine[k]), (k, mine, scores)
                    continue
                assert abs(mine[k] - scores[k]) <= 1e-5 * max(1.0, abs(scores[k])), (k, mine, scores)
            # JSON has no NaN: the mean of no values (1-token prompt) is written as null.
            scores = {k: (None if math.isnan(v) else v) for k, v in scores.items()}

            rec = {
                "text": text,
                "ids": ids,
                "logits": f32list(logits),
                "greedy_ids": toks,
                "greedy_step_logits": f32list(step_logits),
                "greedy_margins": [float(m) for m in margins],
                "min_margin": float(min(margins)),
                "token_logprobs": lps,
                "score": scores,
                "recurrent_check": {
                    "what": "vtx Generator with cached_generation=True (prefill with inference "
                            "params, then one token at a time through the FIR/modal/KV states) "
                            "against re-running the whole prefix at every step",
                    "cached_greedy_ids_equal": cached_toks == toks,
                    "cached_first_divergent_step": first_diverge,
                    "cached_max_rel_diff": rec_rel,
                    "cached_max_abs_diff": rec_abs,
                    "cached_zero_padded_fir_state_greedy_ids_equal": pad_toks == toks,
                    "cached_zero_padded_fir_state_max_rel_diff": pad_rel,
                    "cached_zero_padded_fir_state_max_abs_diff": pad_abs,
                    "uncached_greedy_ids_equal": uncached_toks == toks,
                    "uncached_max_rel_diff": unc_rel,
                    "uncached_max_abs_diff": unc_abs,
                    "one_forward_vs_step_logits_max_rel_diff": causal_rel,
                    "one_forward_vs_prompt_logits_max_rel_diff": prefix_rel,
                },
            }
            records.append(rec)
            print(f"  {name} seed {seed} prompt {text[:20]!r}{'...' if len(text) > 20 else ''} "
                  f"(len {len(ids)}): min margin {min(margins):.3g}; recurrent vs full: max rel "
                  f"{rec_rel:.3g} (abs {rec_abs:.3g}), tokens equal {cached_toks == toks}; "
                  f"with zero-padded FIR state {pad_rel:.3g}; uncached rel {unc_rel:.3g}; scores {scores}", flush=True)
        if ok and fp8:
            if closest < FP8_MIN_MIDPOINT_DISTANCE:
                ok = False
                last_err = f"seed {seed}: an FP8 input {closest:.2e} steps from a rounding midpoint"
        if not ok:
            print(f"  {last_err}; next seed", flush=True)
            continue

        bf16_rel, bf16_score_rel = vtx_bf16_deviation(cfg, fdir / "model.safetensors", records,
                                                      fp8)
        print(f"  {name}: vtx in bf16 is {bf16_rel:.3g} (max relative) from the fp32 prompt "
              f"logits, {bf16_score_rel:.3g} from the fp32 scores (sum, with BOS)", flush=True)
        ref = {
            "fixture": name,
            "notes": spec["notes"],
            "reference": "vtx StripedHyena, fp32, CPU (see scripts/make_evo2_fixtures.py)",
            "vtx_version": "1.1.0",
            "evo2_version": "0.6.0",
            "torch_version": torch.__version__,
            "seed": seed,
            "new_tokens": NEW_TOKENS,
            "min_margin_required": MIN_MARGIN,
            "bf16_rel_logits": bf16_rel,
            "bf16_rel_score_sum_bos": bf16_score_rel,
            "bf16_rel_means": (
                "vtx run in its published precision (bf16 blocks, fp32 poles and residues) "
                "against these fp32 results: the max relative error of the prompt logits rows, "
                "and of the prepend_bos score sums"),
            "tokenizer": "CharLevelTokenizer(512): token id = UTF-8 byte; eod/eos 0, pad 1",
            "score_semantics": (
                "evo2.scoring.score_sequences(batch_size=1): log_softmax of the prefill "
                "logits; position i-1 scores token i, for i = 1..L-1 (the first token is "
                "not scored); 'mean' (Evo2.score_sequences' default) and 'sum' over those "
                "L-1 values. '_bos': prepend_bos=True, the eod id 0 is put in front and all "
                "L tokens are scored (not reproducible from 'logits' here, which are "
                "without it). token_logprobs: the L-1 values of the default scoring."),
            "prompts": records,
        }
        if fp8:
            ref["fp8_input_projections"] = {
                "emulation": "scripts/te_fp8.py (TE's E4M3 GEMM, each call's own per-tensor "
                             "scale)",
                "greedy_steps": "vtx cached decoding",
                "min_midpoint_distance_steps": closest,
                "min_midpoint_distance_required": FP8_MIN_MIDPOINT_DISTANCE,
            }
        with open(fdir / "reference.json", "w") as f:
            json.dump(ref, f, separators=(",", ":"))
            f.write("\n")
        write_readme(fdir, name, spec, cfg, ckpt, seed, prompts)
        # The equations of docs/evo2.md, run from the files alone (no vtx), must agree.
        spec_ok, spec_worst = evo2_spec_check.check(fdir)
        if not spec_ok:
            sys.exit(f"{name}: scripts/evo2_spec_check.py disagrees with vtx")
        sizes = {p.name: p.stat().st_size for p in sorted(fdir.iterdir())}
        print(f"{name}: seed {seed}, {time.time() - t0:.1f} s, files {sizes}", flush=True)
        return
    sys.exit(f"{name}: no seed in {tries} tries met the margin ({last_err})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests" / "fixtures"))
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    logging.getLogger("StripedHyena").setLevel(logging.WARNING)  # per-block INFO lines
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    scoring = load_evo2_scoring()
    tokenizer = CharLevelTokenizer(512)
    out = Path(args.out)
    for name, spec in FIXTURES.items():
        if args.only and name not in args.only:
            continue
        make_fixture(name, spec, out, scoring, tokenizer)


if __name__ == "__main__":
    main()
