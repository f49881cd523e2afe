"""Claim 4's tables: weights removed per layer before a class is forgotten, with Df and Dr, mean ± std over seeds.

    python scripts/claims/forget_table.py RUNS_FOLDER OUT.png

Reads every finished forget run of the folder (scripts/claims/claim4_forget.sh writes them) and groups them
by method: the seed's (`--score diff --step 100 --overshoot 1`) or any other setting, named by its score,
overshoot and repair. Df is shown at the stop (the last pruning step) and after the repair fine-tune that
follows it (`--repair-steps`, default 100). Prints a summary per method and data set (each seed's mean over
the classes, then mean ± std over seeds) and a per-class table of the middle layers; plots the weights
removed per middle layer and class against the seed author's 6,500-7,000 band.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from claim_tables import cell, dataset_label, figure, markdown, save_png

from sparana_cli.store import runs

SEED_BAND = (6500, 7000)  # weights per middle layer at which the seed author saw a class forgotten


def method_label(forget) -> str:
    """The seed's method, or "<score>, overshoot X" for any other setting of a spec's forget section."""
    if forget.score == "diff" and forget.step == 100 and forget.overshoot == 1:
        return "seed's (diff, step 100, overshoot 1)"
    return f"{forget.score}, overshoot {forget.overshoot:g}, repair {forget.repair_steps}"


def commit_of(run: Path) -> str:
    """The git commit (short) the run was made with, '+dirty' when the tree had changes; '?' when not recorded."""
    try:
        git = json.loads((run / "provenance.json").read_text()).get("git") or {}
    except (OSError, ValueError):
        return "?"
    return (git.get("commit") or "?")[:7] + ("+dirty" if git.get("dirty") else "")


def collect(folder: Path) -> tuple[dict, dict]:
    """({(method, data set): {class: {seed: record}}}, {(method, data set): {"sizes", "commits"}})."""
    found, about = defaultdict(lambda: defaultdict(dict)), defaultdict(lambda: {"sizes": None, "commits": set()})
    for run in runs.finished_runs(folder, "forget"):
        arrays, attrs = runs.read_metrics(run)
        spec, a = runs.load_run_spec(run), attrs["forget"]
        key = (method_label(spec.forget), dataset_label(spec.data.name, runs.read_model_attrs(run).get("dataset_source", "")))
        f = arrays["forget"]
        stopped = int(np.argmax(f["weights_removed"] == f["weights_removed"][-1]))  # the last pruning step, before any repair
        found[key][int(a["target_class"])][spec.seed] = {
            "removed": np.asarray(f["removed"][-1], dtype=float), "df_before": a["df_before"], "df_stop": f["df_acc"][stopped],
            "df": a["df_accuracy"], "dr_before": a["dr_before"], "dr": a["dr_accuracy"], "stop": a["stop"]}
        if about[key]["sizes"] is None:
            about[key]["sizes"] = [w.size for w in runs.load_model(run)[0].weights]
        about[key]["commits"].add(commit_of(run))
    return found, about


def per_seed(by_class: dict, pick) -> list[float]:
    """Each seed's mean over the classes of pick(record)."""
    seeds = sorted({s for by_seed in by_class.values() for s in by_seed})
    return [float(np.mean([pick(by_seed[s]) for by_seed in by_class.values() if s in by_seed])) for s in seeds]


def summary(found: dict, about: dict) -> str:
    """One row per method and data set."""
    rows = []
    for key in sorted(found):
        by_class, sizes = found[key], about[key]["sizes"]
        seeds = {s for by_seed in by_class.values() for s in by_seed}
        removed = [cell(per_seed(by_class, lambda r, i=i: r["removed"][i]), 1, 0) for i in range(len(sizes))]
        middle = [cell(per_seed(by_class, lambda r, i=i: r["removed"][i] / sizes[i]), 100, 2) for i in (1, 2)]
        stops = Counter(r["stop"] for by_seed in by_class.values() for r in by_seed.values())
        rows.append([*key, f"{len(seeds)} × {len(by_class)}", *removed[:3], " / ".join(middle),
                     " → ".join(cell(per_seed(by_class, lambda r, k=k: r[k])) for k in ("df_before", "df_stop", "df")),
                     cell(per_seed(by_class, lambda r: r["dr_before"])) + " → " + cell(per_seed(by_class, lambda r: r["dr"])),
                     ", ".join(f"{k} {v}" for k, v in stops.most_common()), ", ".join(sorted(about[key]["commits"]))])
    return markdown(["method", "data set", "seeds × classes", "removed, layer 0 (784×1000)", "layer 1 (1000×800)",
                     "layer 2 (800×400)", "layers 1 / 2, % of the layer", "Df % before → at the stop → after the repair",
                     "Dr % before → after", "stop", "commit"], rows)


def per_class(found: dict) -> str:
    """One row per method, data set and class: the middle layers' removed weights and Df, Dr after."""
    rows = []
    for key in sorted(found):
        for c, by_seed in sorted(found[key].items()):
            records = [by_seed[s] for s in sorted(by_seed)]
            rows.append([*key, c, len(records), cell([r["removed"][1] for r in records], 1, 0),
                         cell([r["removed"][2] for r in records], 1, 0), cell([r["df_stop"] for r in records], 100, 1),
                         cell([r["df"] for r in records], 100, 1),
                         cell([r["dr"] for r in records], 100, 1)])
    return markdown(["method", "data set", "class", "seeds", "removed, layer 1", "removed, layer 2", "Df % at the stop",
                     "Df % after the repair", "Dr % after"], rows)


def plot(found: dict, path: str) -> None:
    """Per data set: weights removed from each middle layer per class (mean over seeds), per method."""
    datasets = sorted({d for _, d in found})
    methods = sorted({m for m, _ in found})
    fig, axes = figure(len(datasets), width=5.0, height=3.8)
    for ax, dataset in zip(axes, datasets):
        ax.axhspan(*SEED_BAND, color="0.85", label="seed author: 6,500–7,000")
        for k, method in enumerate(methods):
            by_class = found.get((method, dataset), {})
            classes = sorted(by_class)
            for layer, marker in ((1, "o"), (2, "s")):
                mean = [np.mean([r["removed"][layer] for r in by_class[c].values()]) for c in classes]
                ax.plot(np.add(classes, 0.15 * (2 * k - 1)), mean, marker, color=f"C{k}", mfc="none" if layer == 2 else None,
                        ls="none", label=f"{method}: layer {layer}")
        ax.set(xlabel="class forgotten", ylabel="weights removed (mean over seeds)", title=dataset, xticks=range(10),
               yscale="log")
        ax.legend(fontsize=6)
    fig.suptitle("Claim 4: weights removed per middle layer before the class is forgotten")
    save_png(fig, path)


def main(folder: str, png: str) -> None:
    found, about = collect(Path(folder))
    if not found:
        sys.exit(f"{folder}: no finished forget runs")
    print(summary(found, about))
    print()
    print(per_class(found))
    plot(found, png)
    print(f"plot: {png}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(*sys.argv[1:])
