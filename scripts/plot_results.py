"""Plot an llmpi results file: mean score per category and the latency distribution.

Usage: python3 scripts/plot_results.py RUN.h5 OUT.png   (needs h5py and matplotlib)
Called by `llmpi report RUN.h5 --plot OUT.png`.
"""
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    path, out = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        requests = f["requests"][()]
        categories = f["summary/categories"][()] if "summary/categories" in f else None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if categories is not None and len(categories):
        names = [c["category"].decode() if isinstance(c["category"], bytes) else c["category"]
                 for c in categories]
        left.bar(names, categories["mean_score"])
        left.set_ylim(0, 1)
    left.set_title("mean score per category")
    right.hist(requests["latency_s"], bins=30)
    right.set_title("request latency (s)")
    right.set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
