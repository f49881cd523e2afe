"""Claim 3's table: hidden-layer widths against live network size under iterated MAAV pruning with dead-unit
removal, mean ± std over seeds per data set, and a PNG of the widths against the live size.

    python scripts/claims/shrink_table.py RUNS_FOLDER OUT.png

Reads every finished prune run of the folder that recorded per-step widths (`/prune/widths`, written by
`sparana prune --steps K`). Rows are the unpruned network and the steps half, three quarters, seven eighths
and all of the way through; the accuracy column shows where the network stops working.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from claim_tables import cell, dataset_label, figure, markdown, save_png, table_command

from sparana_cli.store import runs

CHECKPOINTS = (0.0, 0.5, 0.75, 0.875, 1.0)  # fractions of the way through the pruning steps


def collect(folder: Path) -> dict:
    """{data set: {seed: {"widths": (steps+1, hidden), "live": (steps+1,), "accuracy": (steps+1,)}}}."""
    found = defaultdict(dict)
    for run in runs.finished_runs(folder, "prune"):
        arrays, _ = runs.read_metrics(run)
        prune = arrays.get("prune", {})
        if "widths" not in prune or len(prune["widths"]) < 2:
            continue
        spec = runs.load_run_spec(run)
        label = dataset_label(spec.data.name, runs.read_model_attrs(run).get("dataset_source", ""))
        found[label][spec.seed] = {"widths": np.asarray(prune["widths"]), "live": np.asarray(prune["live_parameters"]),
                                   "accuracy": np.asarray(prune["accuracy"])}
    return found


def table(found: dict) -> str:
    """Per data set and checkpoint: live parameters, each hidden layer's width, first / mean of the others, accuracy."""
    rows = []
    for label, by_seed in sorted(found.items()):
        seeds = sorted(by_seed)
        steps = len(by_seed[seeds[0]]["live"]) - 1
        n_layers = by_seed[seeds[0]]["widths"].shape[1]
        for step in sorted({round(fraction * steps) for fraction in CHECKPOINTS}):
            widths = np.array([by_seed[s]["widths"][step] for s in seeds], dtype=float)  # (seeds, layers)
            evenness = widths[:, 0] / widths[:, 1:].mean(axis=1)
            rows.append([label, f"{step}/{steps}", len(seeds),
                         cell([by_seed[s]["live"][step] for s in seeds], 1e-3, 1),
                         *(cell(widths[:, i], 1, 0) for i in range(n_layers)), cell(evenness, 1, 2),
                         cell([by_seed[s]["accuracy"][step] for s in seeds], 100, 2)])
    n_layers = max(next(iter(s.values()))["widths"].shape[1] for s in found.values())
    return markdown(["data set", "step", "seeds", "live parameters (k)", *(f"layer {i + 1} width" for i in range(n_layers)),
                     "layer 1 ÷ mean of the others", "test accuracy %"], rows)


def plot(found: dict, path: str) -> None:
    """Per data set: each hidden layer's width against the live parameter count (one thin line per seed)."""
    fig, axes = figure(len(found), width=4.6, height=3.6)
    for ax, (label, by_seed) in zip(axes, sorted(found.items())):
        for seed, record in sorted(by_seed.items()):
            for i in range(record["widths"].shape[1]):
                ax.plot(record["live"] / 1e6, record["widths"][:, i], color=f"C{i}", lw=1, alpha=0.8,
                        label=f"layer {i + 1}" if seed == min(by_seed) else None)
        ax.set(xscale="log", xlabel="live parameters (millions, log)", ylabel="units left", title=f"{label} "
               f"({len(by_seed)} seeds)")
        ax.invert_xaxis()
        ax.legend(fontsize=8)
    fig.suptitle("Claim 3: widths of a 1000-1000-1000 model under MAAV pruning + dead-unit removal")
    save_png(fig, path)



if __name__ == "__main__":
    table_command(__doc__, collect, table, plot,
                  "no finished prune runs with per-step widths (sparana prune --steps K)")
