#!/usr/bin/env python3
r"""Encoding throughput of Hugging Face `tokenizers`, single-threaded, as a
baseline for the C++ tokenizer benchmark.

Usage: python scripts/bench_tokenizer_hf.py TOKENIZER_JSON TEXT_FILE
           [--mode whole|lines] [--repeat N] [--add-special-tokens]

TEXT_FILE is read as UTF-8 (an invalid file is an error) and encoded two ways
with `tokenizers.Tokenizer.from_file(TOKENIZER_JSON)`:
  whole  the entire text in one `encode()` call (no batching);
  lines  line by line: split after every "\n" (only "\n"; the "\n" stays
         with its line, a final line without one counts too), one
         `encode()` call per line.
Each way runs --repeat times (default 3) after one untimed warm-up; the best
time counts. Loading the tokenizer is not timed. Special tokens are not
added unless --add-special-tokens is given (added tokens that occur in the
text are matched either way).

stdout gets exactly one machine-readable line, for the --mode way (default
whole):
  hf_bytes_per_second=<float> tokens=<int>
where bytes are the UTF-8 bytes of the text and tokens the total number of ids
produced (for cross-checking the C++ count). Both ways are reported in words
on stderr.

Runs single-threaded (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false) and
needs only the `tokenizers` package (the CI venv .venv/ has it; no torch).
"""

import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


def bench(fn, repeat):
    fn()  # warm-up: first-call costs (caches, allocations) are not what we compare
    best, tokens = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        if tokens is not None and n != tokens:
            raise SystemExit(f"bench_tokenizer_hf: token count changed between runs ({tokens} vs {n})")
        tokens = n
    return best, tokens


def main(argv=None):
    ap = argparse.ArgumentParser(description="HF tokenizers single-threaded encode throughput")
    ap.add_argument("tokenizer_json")
    ap.add_argument("text_file")
    ap.add_argument("--mode", choices=("whole", "lines"), default="whole",
                    help="which measurement goes on the stdout line (default: whole)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per way; the best counts (default 3)")
    ap.add_argument("--add-special-tokens", action="store_true", help="let the post-processor add BOS/EOS etc.")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")

    try:
        from tokenizers import Tokenizer
    except ImportError:
        print("bench_tokenizer_hf: the `tokenizers` package is not installed in this Python", file=sys.stderr)
        return 1
    try:
        tokenizer = Tokenizer.from_file(args.tokenizer_json)
    except Exception as e:  # tokenizers raises a bare Exception for bad files
        print(f"bench_tokenizer_hf: cannot load {args.tokenizer_json}: {e}", file=sys.stderr)
        return 1
    try:
        with open(args.text_file, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except OSError as e:
        print(f"bench_tokenizer_hf: cannot read {args.text_file}: {e}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as e:
        print(f"bench_tokenizer_hf: {args.text_file} is not valid UTF-8 (byte offset {e.start})", file=sys.stderr)
        return 1

    nbytes = len(raw)
    pieces = text.split("\n")
    lines = [p + "\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    add = args.add_special_tokens

    def whole():
        return len(tokenizer.encode(text, add_special_tokens=add).ids)

    def per_line():
        return sum(len(tokenizer.encode(line, add_special_tokens=add).ids) for line in lines)

    results = {}
    for name, fn in (("whole", whole), ("lines", per_line)):
        seconds, tokens = bench(fn, args.repeat)
        rate = nbytes / seconds if seconds > 0 else float("inf")
        results[name] = (rate, tokens)
        print(f"bench_tokenizer_hf: {name:5s}: {nbytes} bytes ({len(lines)} lines) -> {tokens} tokens "
              f"in {seconds * 1e3:.2f} ms = {rate / 1e6:.3f} MB/s (best of {args.repeat})", file=sys.stderr)

    rate, tokens = results[args.mode]
    print(f"hf_bytes_per_second={rate:.1f} tokens={tokens}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
