"""Draws target/bench/results.json as one PNG a person can read at a glance:
for each function, Rust next to the Python baseline on cold start, warm p50,
function CPU per call and peak memory (log scale: the gaps are large)."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

results = json.load(open(sys.argv[1]))["functions"]
out = sys.argv[2]
functions = list(results)
panels = [
    ("cold start (ms)", lambda f: f["cold_start_ms"]["median"]),
    ("warm p50 (ms)", lambda f: f["warm_ms"]["p50"]),
    ("function CPU per warm call (µs)", lambda f: f["cpu_per_call_us"]),
    ("peak memory (MB)", lambda f: f["peak_rss_mb"]),
]
fig, axes = plt.subplots(1, len(panels), figsize=(18, 4.5))
width = 0.38
for ax, (title, value) in zip(axes, panels):
    xs = range(len(functions))
    rust = [value(results[f]["rust"]) for f in functions]
    python = [value(results[f]["python"]) if "python" in results[f] else 0 for f in functions]
    ax.bar([x - width / 2 for x in xs], rust, width, label="Rust", color="#d9480f")
    ax.bar([x + width / 2 for x in xs], python, width, label="Python baseline", color="#1c7ed6")
    ax.set_title(title)
    ax.set_yscale("log")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(functions, rotation=20, ha="right", fontsize=8)
    for x, r, p in zip(xs, rust, python):
        if p:
            ax.annotate(f"{r / p:.2f}x", (x, max(r, p)), ha="center", va="bottom", fontsize=8)
axes[0].legend()
fig.suptitle("Cruddur messaging: Rust functions vs the Python baseline (lower is better; label = Rust / baseline)")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"wrote {out}")
