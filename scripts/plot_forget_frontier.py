"""The forgetting frontier from judged tables: the probe's gap to the retrained model against seconds, every method.

    python scripts/plot_forget_frontier.py OUT.png TITLE JUDGED.csv [MORE-judged.csv ...]

Reads forget_each_class.sh's judged CSV files (class, method, df, dr, probe_recall, ..., seconds;
one row per class and method, the retrained model's row among them) and draws one point per
(class, method, file): x the method's seconds (log scale), y its last-hidden probe recall of the
class minus the retrained model's for the same class and file, in points. A method at y = 0 hides
the class from the features as well as retraining; the parent sits at its own gap, the retrained
model at (its seconds, 0). Points with Df above 1% are hollow: the output still names the class.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

MARKERS = "osD^vP*Xp<>Hd"


def points(paths: list[str]) -> dict:
    """{method: [(seconds, probe gap in points, Df)]} over every class of every file that has a retrain row."""
    out = defaultdict(list)
    for path in paths:
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("probe_recall")]
        retrain = {r["class"]: float(r["probe_recall"]) for r in rows if r["method"] == "retrain"}
        for r in rows:
            if r["class"] in retrain:
                gap = 100 * (float(r["probe_recall"]) - retrain[r["class"]])
                out[r["method"]].append((max(float(r["seconds"]), 1e-3), gap, float(r["df"])))
    return out


def main(target: str, title: str, *paths: str) -> None:
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for k, (method, values) in enumerate(points(list(paths)).items()):
        color, marker = f"C{k % 10}", MARKERS[k % len(MARKERS)]
        for seconds, gap, df in values:
            ax.plot([seconds], [gap], marker=marker, ls="none", color=color, mfc=color if df <= 0.01 else "none")
        ax.plot([], [], marker=marker, ls="none", color=color, label=method)
    ax.axhline(0, color="0.5", lw=1, ls="--")
    ax.set(xscale="log", xlabel="seconds (the method's own, log scale; the parent: 0.001)",
           ylabel="probe recall of the class - retrained model's (points)", title=title)
    ax.legend(fontsize=8, title="hollow: Df > 1%", title_fontsize=8)
    fig.savefig(target, dpi=80)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
