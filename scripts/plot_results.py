"""Plot an llmpi results file: scores per category, and per rank the memory, GPU utilisation
and temperature over time and where the time went.

Usage: python3 scripts/plot_results.py RUN.h5 OUT.png   (needs h5py and matplotlib)
Called by `llmpi report RUN.h5 --plot OUT.png`. Files before results schema 3 have no
telemetry: their plot has the scores and latencies only.
"""
import sys

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PHASES = ["other", "loading", "prefill", "decode", "sampling", "scoring", "writing", "waiting"]


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def category_scores(requests):
    scores = {}
    for row in requests:
        score = row["score"]
        if not np.isnan(score):
            scores.setdefault(text(row["category"]), []).append(score)
    return {name: float(np.mean(values)) for name, values in sorted(scores.items())}


def main():
    path, out = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        requests = f["requests"][()]
        samples = f["telemetry/samples"][()] if "telemetry/samples" in f else None
    has_telemetry = samples is not None and len(samples) > 0
    gpu = has_telemetry and not np.all(np.isnan(samples["gpu_memory_used_bytes"]))
    rows = 1 + (2 if gpu else 1 if has_telemetry else 0)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.6 * rows), squeeze=False)

    scores = category_scores(requests)
    axes[0][0].bar(list(scores), list(scores.values()))
    axes[0][0].set_ylim(0, 1)
    axes[0][0].set_title("mean score per category")
    axes[0][1].hist(requests["latency_s"], bins=30)
    axes[0][1].set_title("request latency (s)")
    axes[0][1].set_xlabel("seconds")

    if has_telemetry:
        over_time = [("gpu_memory_used_bytes", "GPU memory used (GiB)", 2**30),
                     ("gpu_utilization_pct", "GPU utilisation (%)", 1),
                     ("gpu_temperature_c", "GPU temperature (C)", 1)] if gpu else \
                    [("host_rss_bytes", "host memory of each rank (GiB)", 2**30)]
        panels = [axes[1][0], axes[1][1], axes[2][0]] if gpu else [axes[1][0]]
        breakdown = axes[2][1] if gpu else axes[1][1]
        last = {}
        for rank in sorted(set(samples["rank"])):
            mine = samples[samples["rank"] == rank]
            mine = mine[np.argsort(mine["time_s"], kind="stable")]
            for (field, _, scale), panel in zip(over_time, panels):
                panel.plot(mine["time_s"], mine[field] / scale, label=f"rank {rank}")
            for session in sorted(set(mine["session"])):
                final = mine[mine["session"] == session][-1]
                totals = last.setdefault(rank, np.zeros(len(PHASES)))
                totals += np.array([final[p + "_s"] for p in PHASES])
        for (_, title, _), panel in zip(over_time, panels):
            panel.set_title(title + " over time")
            panel.set_xlabel("seconds since the session's start")
            panel.legend(fontsize="small")
        ranks = sorted(last)
        bottom = np.zeros(len(ranks))
        for i, phase in enumerate(PHASES):
            heights = np.array([last[r][i] for r in ranks])
            breakdown.bar([str(r) for r in ranks], heights, bottom=bottom, label=phase)
            bottom += heights
        breakdown.set_title("where each rank's time went (s)")
        breakdown.set_xlabel("rank")
        breakdown.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    main()
