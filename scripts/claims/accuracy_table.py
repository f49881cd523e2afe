"""Claim 1's table: test accuracy of LQ and SCE models per data set, mean ± std over seeds, and a PNG.

    python scripts/claims/accuracy_table.py RUNS_FOLDER OUT.png

Reads every finished training run of the folder (LQ: linear output, quadratic cost; SCE: softmax,
cross-entropy), pairs LQ and SCE by data set and seed, prints a markdown table (LQ, SCE, and the paired
difference LQ − SCE in points) and plots each seed's accuracies per data set.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from claim_tables import cell, dataset_label, figure, markdown, model_kind, save_png, table_command

from sparana_cli.store import runs


def collect(folder: Path) -> dict:
    """{data set label: {"LQ"|"SCE": {seed: test accuracy}}} over the folder's seed models (lib.sh's seed_model).

    Only runs named DATASET-lq or DATASET-sce count: other claims train other LQ models into the same
    folder (claim 3's 1000-1000-1000 models, say), which are not claim 1's comparison.
    """
    found = defaultdict(lambda: defaultdict(dict))
    for run in runs.finished_runs(folder, "train"):
        spec, attrs = runs.load_run_spec(run), runs.read_model_attrs(run)
        kind = model_kind(spec)
        if kind is None or spec.name != f"{spec.data.name}-{kind.lower()}":
            continue
        label = dataset_label(spec.data.name, attrs.get("dataset_source", ""))
        found[label][kind][spec.seed] = runs.read_metrics(run)[1]["train"]["test_accuracy"]
    return found


def table(found: dict) -> str:
    """One row per data set: seeds, epochs-independent accuracies and the paired difference."""
    rows = []
    for label, by_kind in found.items():
        seeds = sorted(set(by_kind["LQ"]) & set(by_kind["SCE"]))
        lq = [by_kind["LQ"][s] for s in seeds]
        sce = [by_kind["SCE"][s] for s in seeds]
        diff = [a - b for a, b in zip(lq, sce)]
        wins = sum(d > 0 for d in diff)
        rows.append([label, len(seeds), cell(lq), cell(sce), cell(diff), f"{wins}/{len(seeds)}"])
    return markdown(["data set", "seeds", "LQ test %", "SCE test %", "LQ − SCE (pt, paired)", "seeds LQ ahead"], rows)


def plot(found: dict, path: str) -> None:
    """Per data set: each seed's LQ and SCE accuracy, joined by seed, with the means."""
    fig, axes = figure(len(found))
    for ax, (label, by_kind) in zip(axes, found.items()):
        seeds = sorted(set(by_kind["LQ"]) & set(by_kind["SCE"]))
        for s in seeds:
            ax.plot([0, 1], [100 * by_kind["LQ"][s], 100 * by_kind["SCE"][s]], "o-", color="0.6", lw=1)
        for x, kind in enumerate(("LQ", "SCE")):
            values = [100 * by_kind[kind][s] for s in seeds]
            if values:
                ax.plot([x - 0.15, x + 0.15], [sum(values) / len(values)] * 2, color=f"C{x}", lw=3)
        ax.set(xticks=[0, 1], xticklabels=["LQ", "SCE"], xlim=(-0.5, 1.5), ylabel="test accuracy %",
               title=f"{label} ({len(seeds)} seeds)")
    fig.suptitle("Claim 1: LQ vs SCE test accuracy (grey: one seed; bar: mean)")
    save_png(fig, path)



if __name__ == "__main__":
    table_command(__doc__, collect, table, plot, "no finished LQ or SCE training runs")
