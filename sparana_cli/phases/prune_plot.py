"""The picture of an iterative pruning run: hidden-layer widths and test accuracy against network size."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_prune_history(path: Path, history: dict, *, title: str) -> None:
    """Write a PNG: each hidden layer's width (left) and test accuracy (right) against live parameters.

    history holds per-step lists: "widths" (steps, hidden layers), "accuracy", "live_parameters".
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = np.asarray(history["live_parameters"])
    widths = np.asarray(history["widths"]).reshape(len(size), -1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for j in range(widths.shape[1]):
        left.plot(size, widths[:, j], marker=".", label=f"hidden layer {j + 1}")
    left.set(xscale="log", xlabel="live parameters (weights + biases, after removing dead units)",
             ylabel="units", title="layer widths")
    left.invert_xaxis()
    left.legend()
    right.plot(size, 100 * np.asarray(history["accuracy"]), marker=".", color="black")
    right.set(xscale="log", xlabel="live parameters", ylabel="test accuracy (%)", title="accuracy")
    right.invert_xaxis()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
