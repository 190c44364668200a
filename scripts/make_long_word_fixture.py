#!/usr/bin/env python3
"""Hugging Face tokenizers' encoding of one 100,000-letter word, for the BPE speed test.

Writes tests/fixtures/tokenizers/long_word.expected.json: the word's recipe (a linear
congruential generator over a-z, which tests/tokenizer/test_tokenizer.cpp regenerates), and the
ids HF `tokenizers` gives it with tests/fixtures/tokenizers/falcon_style/tokenizer.json: their
count, FNV-1a 64 hash and first and last 32. Run with the project venv (.venv/, made by
scripts/fetch_tokenizers.sh, which installs tokenizers):

    .venv/bin/python scripts/make_long_word_fixture.py
"""
import json
import pathlib
import time

import tokenizers

REPO = pathlib.Path(__file__).resolve().parent.parent
TOKENIZER = REPO / "tests/fixtures/tokenizers/falcon_style/tokenizer.json"
OUT = REPO / "tests/fixtures/tokenizers/long_word.expected.json"
LETTERS = 100_000
SEED = 20261201


def word(length, seed):
    x = seed
    letters = []
    for _ in range(length):
        x = (x * 1103515245 + 12345) % (1 << 31)
        letters.append(chr(ord("a") + (x >> 16) % 26))
    return "".join(letters)


def fnv1a(ids):
    h = 1469598103934665603
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h


def main():
    tok = tokenizers.Tokenizer.from_file(str(TOKENIZER))
    text = word(LETTERS, SEED)
    start = time.perf_counter()
    ids = tok.encode(text, add_special_tokens=False).ids
    seconds = time.perf_counter() - start
    OUT.write_text(json.dumps({
        "tokenizer": "falcon_style",
        "letters": LETTERS,
        "seed": SEED,
        "generator": "x = (x * 1103515245 + 12345) mod 2^31; letter = 'a' + (x >> 16) mod 26",
        "tokenizers_version": tokenizers.__version__,
        "hf_seconds": round(seconds, 4),
        "count": len(ids),
        "fnv1a64": str(fnv1a(ids)),
        "first": ids[:32],
        "last": ids[-32:],
    }, indent=1) + "\n")
    print(f"wrote {OUT}: {len(ids)} ids in {seconds:.3f} s")


if __name__ == "__main__":
    main()
