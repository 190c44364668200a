"""PyTorch/transformers baseline for tests/backend/bench_cuda_layer.cpp, on the same GPU.

Same shapes as the C++ benchmark: a Llama-2-70B-shaped model (hidden 8192, 64 heads, 8 KV
heads, intermediate 28672) cut to 4 layers with a 32000-token head, bf16 weights, SDPA
attention, random weights. Prints decode time per step (batch 1, one new token over a
1024-token cache) and prefill time for 2048 tokens, each the median of repeated CUDA-event
timings after a warm-up. Run on the GPU machine: python3 scripts/bench_torch_layer.py
"""
import statistics

import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

LAYERS = 4
CONTEXT = 1024
PREFILL = 2048


def timed(fn, repeats):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=8192, intermediate_size=28672,
                         num_hidden_layers=LAYERS, num_attention_heads=64, num_key_value_heads=8,
                         max_position_embeddings=8192, attn_implementation="sdpa")
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16).eval()
    prompt = torch.full((1, CONTEXT), 5, dtype=torch.long, device="cuda")
    with torch.inference_mode():
        cache = DynamicCache(config=config)
        model(prompt, past_key_values=cache, use_cache=True)
        token = torch.full((1, 1), 7, dtype=torch.long, device="cuda")
        position = torch.tensor([[CONTEXT]], device="cuda")

        def decode():
            model(token, past_key_values=cache, position_ids=position, use_cache=True,
                  logits_to_keep=1)
            cache.crop(-1)  # drop the new token: every repeat sees the same context

        decode_ms = timed(decode, 20)
        long_prompt = torch.full((1, PREFILL), 9, dtype=torch.long, device="cuda")
        prefill_ms = timed(lambda: model(long_prompt, use_cache=False, logits_to_keep=1), 5)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}: llama-2-70b shape, "
          f"{LAYERS} layers + head, bf16, sdpa")
    print(f"  decode batch 1 context {CONTEXT}: {decode_ms:.3f} ms/step")
    print(f"  prefill {PREFILL} tokens: {prefill_ms:.2f} ms")


if __name__ == "__main__":
    main()
