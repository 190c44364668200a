"""Writes a random-weight Llama checkpoint (safetensors, bf16) with a tokenizer beside it, for
checks that need a model of realistic size but no particular weights (the GPU check's memory
and telemetry readings). transformers builds and saves it, on the GPU where there is one.

usage: python3 make_random_checkpoint.py OUT_DIR TOKENIZER_DIR [--layers N] [--hidden H]
"""
import argparse
import shutil
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("tokenizer", help="directory holding tokenizer.json")
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=2048)
    args = parser.parse_args()

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(args.tokenizer) / "tokenizer.json"))
    heads = args.hidden // 128
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=args.hidden,
        intermediate_size=args.hidden * 11 // 4 // 64 * 64,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        num_key_value_heads=max(1, heads // 4),
        max_position_embeddings=4096,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    out = Path(args.out)
    model.save_pretrained(out)  # safetensors, the default
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (Path(args.tokenizer) / name).exists():
            shutil.copy(Path(args.tokenizer) / name, out / name)
    params = sum(p.numel() for p in model.parameters())
    print(f"random Llama: {args.layers} layers, hidden {args.hidden}, {params / 1e9:.2f}B "
          f"parameters, vocabulary {config.vocab_size}, in {out}")


if __name__ == "__main__":
    main()
