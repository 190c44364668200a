"""PyTorch/transformers baseline for `llmpi bench --torch`, on the same device.

Builds the preset's model (its `model:` block is the checkpoint's config.json) with random
weights in bf16 on a GPU (fp32 on the CPU), SDPA attention, at two depths L and 2L, and times
the same steps as llmpi's layer benchmark: a decode step of B sequences whose caches hold
`context` tokens, and a prefill of `prefill-tokens` tokens. Per-layer times are
(T(2L) - T(L)) / L, so the embedding and head drop out. The last stdout line is JSON:
{"torch", "device", "decode": [{"batch", "ms_per_layer"}], "prefill": {"tokens", "ms_per_layer"}}.

A tensor-parallel slice (--tp > 1) is the same model with heads, KV heads, MLP columns and
vocabulary divided by tp: expressible for Llama (head_dim is a config field), not for Falcon
(transformers derives head_dim from hidden_size / heads), which is refused.
"""
import argparse
import json
import time

import torch
import yaml
from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache


def sliced_config(model, layers, tp, positions):
    fields = dict(model)
    model_type = fields.pop("model_type")
    for key in ("architectures", "torch_dtype", "dtype", "transformers_version"):
        fields.pop(key, None)
    fields["num_hidden_layers"] = layers
    fields["max_position_embeddings"] = max(fields.get("max_position_embeddings", 0), positions)
    if tp > 1:
        if model_type != "llama":
            raise SystemExit(f"--tp {tp}: a tensor-parallel slice of {model_type} cannot be built in "
                             "transformers (head_dim = hidden_size / heads); use --tp 1")
        heads = fields["num_attention_heads"]
        kv = fields.get("num_key_value_heads", heads)
        fields["head_dim"] = fields.get("head_dim", fields["hidden_size"] // heads)
        fields["num_attention_heads"] = heads // tp
        fields["num_key_value_heads"] = max(1, kv // tp)
        fields["intermediate_size"] = fields["intermediate_size"] // tp
        fields["vocab_size"] = -(-fields["vocab_size"] // tp)
    config = AutoConfig.for_model(model_type, **fields)
    config._attn_implementation = "sdpa"
    return config


class Timer:
    """Mean wall-clock time of repeated calls after a warm-up, the device synchronised at both
    ends: the same method as llmpi's benchmark."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def mean_ms(self, fn, repeats):
        fn()  # warm-up
        self.sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        self.sync()
        return (time.perf_counter() - start) * 1e3 / repeats


def decode_ms(model, config, batch, context, timer, repeats, device):
    prompt = torch.randint(0, config.vocab_size, (batch, context), device=device)
    cache = DynamicCache(config=config)
    model(prompt, past_key_values=cache, use_cache=True, logits_to_keep=1)
    token = torch.full((batch, 1), 7 % config.vocab_size, dtype=torch.long, device=device)
    position = torch.full((batch, 1), context, dtype=torch.long, device=device)

    def step():
        model(token, past_key_values=cache, position_ids=position, use_cache=True,
              logits_to_keep=1)
        cache.crop(-1)  # drop the new token: every repeat sees the same context

    return timer.mean_ms(step, repeats)


def prefill_ms(model, config, tokens, timer, repeats, device):
    prompt = torch.randint(0, config.vocab_size, (1, tokens), device=device)
    return timer.mean_ms(lambda: model(prompt, use_cache=False, logits_to_keep=1),
                           max(2, repeats // 4))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", required=True)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--prefill-tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()

    with open(args.preset) as f:
        model_fields = yaml.safe_load(f)["model"]
    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    positions = max(args.context + 1, args.prefill_tokens)
    timer = Timer(device)
    torch.manual_seed(0)
    models = {}
    for depth in (args.layers, 2 * args.layers):
        config = sliced_config(model_fields, depth, args.tp, positions)
        with device:
            models[depth] = (AutoModelForCausalLM.from_config(config, dtype=dtype).eval(), config)

    result = {"torch": torch.__version__,
              "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "decode": [], "prefill": {}}
    with torch.inference_mode():
        for batch in (int(b) for b in args.batches.split(",")):
            times = {depth: decode_ms(m, c, batch, args.context, timer, args.repeats, device)
                     for depth, (m, c) in models.items()}
            per_layer = (times[2 * args.layers] - times[args.layers]) / args.layers
            result["decode"].append({"batch": batch, "ms_per_layer": per_layer})
            print(f"torch decode batch {batch}: {per_layer:.4f} ms/layer", flush=True)
        times = {depth: prefill_ms(m, c, args.prefill_tokens, timer, args.repeats, device)
                 for depth, (m, c) in models.items()}
        per_layer = (times[2 * args.layers] - times[args.layers]) / args.layers
        result["prefill"] = {"tokens": args.prefill_tokens, "ms_per_layer": per_layer}
        print(f"torch prefill {args.prefill_tokens} tokens: {per_layer:.3f} ms/layer", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
