"""Claim 4's tables: weights removed per layer before a class is forgotten, with Df and Dr, mean ± std over seeds.

    python scripts/claims/forget_table.py RUNS_FOLDER OUT.png

Reads every finished forget run of the folder (scripts/claims/claim4_forget.sh writes them) and groups them
by method: the seed's (`--score diff --step 100 --overshoot 1`) or any other setting, named by its score,
overshoot and repair. "When first forgotten" is the first step at which the stop rule's target was met
(validation Df ≤ forget.target, 1%): the seed's claim is about that count; "in all" adds what the overshoot and
any repair rounds removed after it. Prints a summary per method and data set (each seed's mean over the
classes, then mean ± std over seeds) and a per-class table of the middle layers; plots the weights removed
per middle layer and class when first forgotten against the seed author's 6,500-7,000 band.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from claim_tables import cell, dataset_label, figure, markdown, save_png, table_command

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
        met = np.flatnonzero(np.asarray(f["val_df"])[1:] <= spec.forget.target) + 1  # steps at the stop rule's target
        first = int(met[0]) if len(met) else len(f["val_df"]) - 1
        found[key][int(a["target_class"])][spec.seed] = {
            "first": np.asarray(f["removed"][first], dtype=float), "removed": np.asarray(f["removed"][-1], dtype=float),
            "df_before": a["df_before"], "df_first": f["df_acc"][first], "df": a["df_accuracy"],
            "dr_before": a["dr_before"], "dr": a["dr_accuracy"], "stop": a["stop"],
            "rounds": a.get("rounds", 1 if spec.forget.repair_steps else 0)}  # repair rounds (one before they existed)
        if about[key]["sizes"] is None:
            about[key]["sizes"] = [w.size for w in runs.load_model(run)[0].weights]
        about[key]["commits"].add(commit_of(run))
    return found, about


def per_seed(by_class: dict, pick) -> list[float]:
    """Each seed's mean over the classes of pick(record)."""
    seeds = sorted({s for by_seed in by_class.values() for s in by_seed})
    return [float(np.mean([pick(by_seed[s]) for by_seed in by_class.values() if s in by_seed])) for s in seeds]


def summary(found: dict, about: dict) -> str:
    """One row per method and data set: weights removed when the class was first forgotten, and in all."""
    rows = []
    for key in sorted(found):
        by_class, sizes = found[key], about[key]["sizes"]
        seeds = {s for by_seed in by_class.values() for s in by_seed}
        first = [cell(per_seed(by_class, lambda r, i=i: r["first"][i]), 1, 0) + " ("
                 + cell(per_seed(by_class, lambda r, i=i: r["first"][i] / sizes[i]), 100, 2) + " %)" for i in (1, 2)]
        total = " / ".join(cell(per_seed(by_class, lambda r, i=i: r["removed"][i]), 1, 0) for i in range(3))
        stops = Counter(r["stop"] for by_seed in by_class.values() for r in by_seed.values())
        rows.append([*key, f"{len(seeds)} × {len(by_class)}", *first, total,
                     " → ".join(cell(per_seed(by_class, lambda r, k=k: r[k]), 100, 1) for k in ("df_before", "df_first", "df")),
                     " → ".join(cell(per_seed(by_class, lambda r, k=k: r[k]), 100, 1) for k in ("dr_before", "dr")),
                     ", ".join(f"{k} {v}" for k, v in stops.most_common()),
                     cell(per_seed(by_class, lambda r: r["rounds"]), 1, 1),
                     ", ".join(sorted(about[key]["commits"]))])
    return markdown(["method", "data set", "seeds × classes", "layer 1 (1000×800) removed when first forgotten",
                     "layer 2 (800×400) removed when first forgotten", "removed in all, layers 0 / 1 / 2",
                     "Df % before → when first forgotten → final", "Dr % before → final", "stop", "repairs",
                     "commit"], rows)


def per_class(found: dict) -> str:
    """One row per method, data set and class: the middle layers' weights removed when first forgotten; Df, Dr."""
    rows = []
    for key in sorted(found):
        for c, by_seed in sorted(found[key].items()):
            records = [by_seed[s] for s in sorted(by_seed)]
            rows.append([*key, c, len(records), cell([r["first"][1] for r in records], 1, 0),
                         cell([r["first"][2] for r in records], 1, 0), cell([r["df_first"] for r in records], 100, 1),
                         cell([r["df"] for r in records], 100, 1), cell([r["dr"] for r in records], 100, 1)])
    return markdown(["method", "data set", "class", "seeds", "layer 1 removed when first forgotten", "layer 2 removed",
                     "Df % then", "Df % final", "Dr % final"], rows)


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
                mean = [np.mean([r["first"][layer] for r in by_class[c].values()]) for c in classes]
                ax.plot(np.add(classes, 0.15 * (2 * k - 1)), mean, marker, color=f"C{k}", mfc="none" if layer == 2 else None,
                        ls="none", label=f"{method}: layer {layer}")
        ax.set(xlabel="class forgotten", ylabel="removed when first forgotten (seed mean)", title=dataset, xticks=range(10),
               yscale="log")
        ax.legend(fontsize=6)
    fig.suptitle("Claim 4: weights removed per middle layer when the class is first forgotten")
    save_png(fig, path)



if __name__ == "__main__":
    table_command(__doc__, collect, lambda c: summary(*c) + "\n\n" + per_class(c[0]),
                  lambda c, png: plot(c[0], png), "no finished forget runs", found_in=lambda c: c[0])
