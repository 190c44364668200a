"""llmpi's CPU backend and llama.cpp side by side on one checkpoint (scripts/bench_cpu_llamacpp.sh).

Both get the same prompt ids (214 tokens of a fixed English text, tokenized by the checkpoint's
own tokenizer), 2 threads, and generate 128 tokens greedily without stopping at EOS. Prefill is
the prompt's pass up to the first new token, and decode covers the remaining 127 tokens. The
three runs alternate for --rounds rounds: llmpi on the safetensors checkpoint, which stays in
its bf16, and llama.cpp on the bf16 and f32 GGUFs. The script prints each run and the medians
with the ratios llmpi / llama.cpp.
"""
import argparse
import os
import re
import statistics
import subprocess
import time

from llama_cpp import Llama
from transformers import AutoTokenizer

PROMPT_TOKENS = 214
NEW_TOKENS = 128
THREADS = 2
TEXT = ("The river ran past the old mill, through fields of barley and under three stone bridges "
        "before it reached the sea. Every spring the miller's children counted the swallows that "
        "came back to nest under the eaves, and every autumn they counted them again as they "
        "left. ") * 8


def llmpi_run(llmpi, model, ids):
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS))
    out = subprocess.run([llmpi, "generate", "--model", model, "--prompt-ids",
                          ",".join(map(str, ids)), "--max-new-tokens", str(NEW_TOKENS),
                          "--ignore-eos"], env=env, capture_output=True, text=True, check=True)
    prefill = re.search(r"prefill: (\d+) tokens in ([\d.]+) s", out.stdout)
    decode = re.search(r"decode: (\d+) tokens in ([\d.]+) s", out.stdout)
    return (int(prefill.group(1)) / float(prefill.group(2)),
            int(decode.group(1)) / float(decode.group(2)))


def llamacpp_run(llm, ids):
    llm.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for _ in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        count += 1
        if first is None:
            first = time.perf_counter()
        if count == NEW_TOKENS:
            break
    end = time.perf_counter()
    return len(ids) / (first - start), (NEW_TOKENS - 1) / (end - first)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llmpi", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--gguf-bf16", required=True)
    parser.add_argument("--gguf-f32", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    ids = AutoTokenizer.from_pretrained(args.model)(TEXT)["input_ids"][:PROMPT_TOKENS]
    assert len(ids) == PROMPT_TOKENS, len(ids)
    engines = {
        "llmpi (safetensors, bf16 kept)": lambda: llmpi_run(args.llmpi, args.model, ids),
    }
    for name, path in (("llama.cpp bf16 GGUF", args.gguf_bf16), ("llama.cpp f32 GGUF", args.gguf_f32)):
        llm = Llama(model_path=path, n_threads=THREADS, n_threads_batch=THREADS, n_ctx=512,
                    n_batch=512, verbose=False)
        engines[name] = lambda llm=llm: llamacpp_run(llm, ids)

    results = {name: [] for name in engines}
    for round_ in range(args.rounds):
        for name, run in engines.items():
            prefill, decode = run()
            results[name].append((prefill, decode))
            print(f"round {round_ + 1} {name:32s} prefill {prefill:8.1f} tok/s  "
                  f"decode {decode:6.1f} tok/s", flush=True)

    print(f"\nmedians of {args.rounds} rounds, {PROMPT_TOKENS}-token prompt, {NEW_TOKENS} new "
          f"tokens, {THREADS} threads:")
    medians = {name: (statistics.median(p for p, _ in runs), statistics.median(d for _, d in runs))
               for name, runs in results.items()}
    ours = medians["llmpi (safetensors, bf16 kept)"]
    for name, (prefill, decode) in medians.items():
        print(f"  {name:32s} prefill {prefill:8.1f} tok/s ({ours[0] / prefill:4.2f}x)  "
              f"decode {decode:6.1f} tok/s ({ours[1] / decode:4.2f}x)")
    print("  (in parentheses: llmpi / that engine; above 1 llmpi is faster)")


if __name__ == "__main__":
    main()
