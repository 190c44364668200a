"""PyTorch/transformers baseline for `llmpi bench --throughput --torch`, on the same device.

Builds the preset's whole model (its `model:` block is the checkpoint's config.json) with
random weights in bf16 on a GPU (fp32 on the CPU), SDPA attention, and generates the same
synthetic requests llmpi ran: `--requests` prompts of `--input` random tokens, each producing
exactly `--output` tokens greedily. transformers has no continuous batching, so requests go in
static batches of `--batch` (llmpi's number in flight). The last stdout line is JSON:
{"torch", "device", "requests", "batch", "seconds", "output_tokens_per_s"}; where the batch
does not fit the device, output_tokens_per_s is null and "error" says why.
"""
import argparse
import json
import time

import torch
import yaml
from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig


def whole_config(model_fields, positions):
    fields = dict(model_fields)
    model_type = fields.pop("model_type")
    for key in ("architectures", "torch_dtype", "dtype", "transformers_version"):
        fields.pop(key, None)
    config = AutoConfig.for_model(model_type, **fields)
    if getattr(config, "max_position_embeddings", positions) < positions:
        raise SystemExit(f"{positions} tokens exceed the model's positions")
    config._attn_implementation = "sdpa"
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--input", type=int, required=True)
    parser.add_argument("--output", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    with open(args.preset) as f:
        model_fields = yaml.safe_load(f)["model"]
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = whole_config(model_fields, args.input + args.output)
    torch.manual_seed(0)
    with device:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()
    generation = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=args.output,
                                  min_new_tokens=args.output, eos_token_id=None,
                                  bos_token_id=None, pad_token_id=0)
    result = {"torch": torch.__version__,
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "requests": args.requests, "batch": args.batch}
    prompts = torch.randint(0, config.vocab_size, (args.requests, args.input), device=device)
    try:
        with torch.inference_mode():
            # Warm-up on one short request: kernels chosen, pools grown.
            model.generate(prompts[:1], attention_mask=torch.ones_like(prompts[:1]),
                           generation_config=GenerationConfig(
                               do_sample=False, max_new_tokens=2, min_new_tokens=2,
                               eos_token_id=None, bos_token_id=None, pad_token_id=0))
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            produced = 0
            for first in range(0, args.requests, args.batch):
                batch = prompts[first:first + args.batch]
                out = model.generate(batch, attention_mask=torch.ones_like(batch),
                                     generation_config=generation)
                produced += (out.shape[1] - args.input) * out.shape[0]
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        assert produced == args.requests * args.output, produced
        result.update(seconds=seconds, output_tokens_per_s=produced / seconds)
        print(f"torch: {args.requests} requests {args.input}/{args.output} in batches of "
              f"{args.batch}: {seconds:.3f} s, {produced / seconds:.1f} output tokens/s",
              flush=True)
    except torch.OutOfMemoryError as error:
        result.update(seconds=None, output_tokens_per_s=None,
                      error=f"out of memory at batch {args.batch}: {str(error).splitlines()[0]}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
