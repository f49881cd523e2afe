"""The forgetting frontier on the validation split: probe recall and Dr against weights removed, per method.

    python scripts/plot_frontier.py docs/forget-frontier-validation.csv docs/forget-frontier.png

The CSV holds one row per (class, method): class, method, weights_removed, df, dr, probe_recall,
relearn_steps, relearn_df_10, as measured when the default was chosen (see docs/forgetting.md).
"""

from __future__ import annotations

import csv
import sys

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402


def main(source: str, target: str) -> None:
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["class"] for r in rows}, key=int, reverse=True)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    axes = fig.subplots(1, len(classes), squeeze=False)[0]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    markers = dict(zip(methods, "osD^vP*Xp<>H"))
    for ax, c in zip(axes, classes):
        mine = [r for r in rows if r["class"] == c]
        reference = {r["method"]: r for r in mine}
        retrain = reference.get("retrained without the class")
        for r in mine:
            if r["method"].startswith("retrained"):
                continue
            x = int(r["weights_removed"])
            ax.plot([x], [100 * float(r["probe_recall"])], marker=markers[r["method"]], ls="none", color="C0")
            ax.plot([x], [100 * float(r["dr"])], marker=markers[r["method"]], ls="none", color="C1", mfc="none")
        if retrain is not None:
            ax.axhline(100 * float(retrain["probe_recall"]), color="C0", ls="--", lw=1, label="retrained: probe recall")
            ax.axhline(100 * float(retrain["dr"]), color="C1", ls="--", lw=1, label="retrained: Dr")
        ax.set(title=f"class {c}", xlabel="weights removed", ylabel="%")
        ax.legend(loc="lower left", fontsize=8)
    handles = [axes[0].plot([], [], marker=markers[m], ls="none", color="0.3", label=m)[0]
               for m in methods if not m.startswith("retrained")]
    fig.legend(handles=handles, loc="outside right center", fontsize=8,
               title="filled: probe recall of the class\nhollow: Dr (other classes)")
    fig.suptitle("Forgetting on Fashion-MNIST validation: how far each method moves the class out of the features")
    fig.savefig(target, dpi=80)


if __name__ == "__main__":
    main(*sys.argv[1:3])
