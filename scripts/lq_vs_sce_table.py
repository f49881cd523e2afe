"""The LQ-vs-SCE table from a folder of attack runs (written by scripts/lq-vs-sce.sh).

    python scripts/lq_vs_sce_table.py RUNS_FOLDER

Writes RUNS_FOLDER/lq-vs-sce.csv and prints a markdown table: clean accuracy, accuracy under each
attack at each eps, and detection AUROC (all attacked images, and only those the attack turned
wrong), each as mean ± sample standard deviation over seeds, for LQ, SCE and their per-seed
difference (LQ - SCE, same seed). An attack is a method with the loss it raises: "fgsm", "pgd"
(the model's own loss) or "pgd, CE" (softmax cross-entropy of the outputs, for both models).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from sparana_cli.store import runs

MODELS = {("linear", "quadratic"): "LQ", ("softmax", "cross_entropy"): "SCE"}


def attack_name(spec) -> str:
    """fgsm, pgd (the model's own loss) or "fgsm, CE", "pgd, CE" (cross-entropy for both models)."""
    return spec.attack.method + ("" if spec.attack.loss == "model" else ", CE")


def collect(folder: Path) -> tuple[dict, dict, dict]:
    """The runs in folder: attacks {(model, attack): {seed: (attack attrs, attack arrays)}},
    trainings {(model, seed): (test accuracy, test images)} and {model: spec}."""
    found, trained, specs = defaultdict(dict), {}, {}
    for run in runs.finished_runs(folder):
        arrays, attrs = runs.read_metrics(run)
        spec = runs.load_run_spec(run)
        model = MODELS.get((spec.model.output, spec.model.loss))
        if model is None:
            continue
        if "train" in arrays:
            if (model, spec.seed) in trained:
                sys.exit(f"{run}: a second {model} model for seed {spec.seed}; keep one per seed")
            trained[(model, spec.seed)] = (attrs["train"]["test_accuracy"], int(arrays["test"]["confusion"].sum()))
        if "attack" in arrays and not attrs["attack"].get("crafted_on"):  # transfer attacks are not in this table
            key = (model, attack_name(spec))
            if spec.seed in found[key]:
                sys.exit(f"{run}: a second {model} {key[1]} attack for seed {spec.seed}; keep one per seed")
            found[key][spec.seed] = (attrs["attack"], arrays["attack"])
            specs[model] = spec
    for model, attack in list(found):
        # an SCE model's own loss is cross-entropy: its "pgd" attack is its "pgd, CE" attack (the batch skips the rerun)
        if model == "LQ" and attack.endswith(", CE") and ("SCE", attack) not in found:
            found[("SCE", attack)] = found.get(("SCE", attack.removesuffix(", CE")), {})
    return found, trained, specs


def rows(found: dict, trained: dict) -> list[dict]:
    """One row per figure: its label, attack, eps, and the per-seed values of LQ and SCE (same seeds)."""
    attacks = sorted({attack for _, attack in found}, key=lambda a: (", CE" in a, a))
    if not attacks or set(found) != {(m, a) for m in ("LQ", "SCE") for a in attacks}:
        sys.exit(f"need LQ and SCE runs attacked the same ways; found {sorted(found)} (run scripts/lq-vs-sce.sh)")
    first = ("LQ", attacks[0])
    seeds = sorted(found[first])
    eps = found[first][seeds[0]][1]["eps"]
    for key, by_seed in found.items():
        if sorted(by_seed) != seeds:
            sys.exit(f"{' '.join(key)} was run for seeds {sorted(by_seed)}, {' '.join(first)} for {seeds}: "
                     "the comparison needs the same seeds")
        if any(list(x["eps"]) != list(eps) for _, x in by_seed.values()):
            sys.exit(f"{' '.join(key)} was run at other radii than {' '.join(first)} ({list(eps)})")

    def values(model, attack, pick):
        return [pick(*found[(model, attack)][s]) for s in seeds]

    missing = [f"{m} seed {s}" for m in ("LQ", "SCE") for s in seeds if (m, s) not in trained]
    if missing:
        sys.exit(f"no trained model in the folder for {', '.join(missing)}: the clean accuracy comes from there")
    table = [{"figure": "clean accuracy", "attack": "", "eps": "", "percent": True,
              **{m: [trained[(m, s)][0] for s in seeds] for m in ("LQ", "SCE")}}]
    if any(found[first][s][0]["samples"] != trained[("LQ", s)][1] for s in seeds):
        table.append({"figure": "clean accuracy, attacked images", "attack": "", "eps": "", "percent": True,
                      **{m: values(m, attacks[0], lambda a, _: a["clean_accuracy"]) for m in ("LQ", "SCE")}})
    for figure, name, percent in (("accuracy", "accuracy under attack", True), ("auroc", "detection AUROC", False),
                                  ("auroc_fooled", "detection AUROC, fooled only", False)):
        for attack in attacks:
            for i, e in enumerate(eps):
                table.append({"figure": name, "attack": attack, "eps": float(e), "percent": percent,
                              **{m: values(m, attack, lambda _, x: x[figure][i]) for m in ("LQ", "SCE")}})
    for row in table:
        row["LQ-SCE"] = list(np.subtract(row["LQ"], row["SCE"]))
        row["seeds"] = seeds
    return table


def mean_sd(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")


def shown(values, percent: bool) -> str:
    mean, sd = mean_sd(values)
    scale, digits = (100, 2) if percent else (1, 3)
    return f"{scale * mean:.{digits}f} ± {scale * sd:.{digits}f}"


def write_csv(table: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["figure", "attack", "eps", "model", "mean", "sd", "n_seeds", "seeds", "values"])
        for row in table:
            for model in ("LQ", "SCE", "LQ-SCE"):
                mean, sd = mean_sd(row[model])
                out.writerow([row["figure"], row["attack"], row["eps"], model, f"{mean:.6g}", f"{sd:.6g}",
                              len(row["seeds"]), " ".join(map(str, row["seeds"])),
                              " ".join(f"{v:.6g}" for v in row[model])])


def markdown(table: list[dict], specs: dict, found: dict, trained: dict) -> str:
    lq, sce = specs["LQ"], specs["SCE"]
    attack = next(iter(found[next(iter(found))].values()))[0]
    n_test = next(iter(trained.values()))[1]
    attacked = "" if attack["samples"] == n_test else f", {attack['samples']} of them attacked"
    lines = [
        f"LQ vs SCE on {lq.data.name} ({n_test} test images{attacked}), "
        f"{'-'.join(map(str, ['in', *lq.model.hidden, 'out']))} ReLU, {lq.train.optimizer} lr {lq.train.lr:g} "
        f"(SCE: {sce.train.optimizer} lr {sce.train.lr:g}), {lq.train.epochs} epochs (SCE: {sce.train.epochs}); "
        f"PGD {attack['steps']} steps of {attack['step_scale']:g}·eps/{attack['steps']}"
        f"{', random start' if attack['random_start'] else ''}. "
        f"Mean ± sample sd over seeds {', '.join(map(str, table[0]['seeds']))}; accuracy in %. "
        "Attacks raise each model's own training loss; ', CE': softmax cross-entropy of the outputs for both. "
        "Detection scores: LQ distance of the output from the nearest one-hot, SCE 1 - max softmax.",
        "",
        "| figure | attack | eps | LQ | SCE | LQ − SCE (paired) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table:
        eps = "" if row["eps"] == "" else f"{row['eps']:g}"
        lines.append(f"| {row['figure']} | {row['attack']} | {eps} | "
                     + " | ".join(shown(row[m], row["percent"]) for m in ("LQ", "SCE", "LQ-SCE")) + " |")
    return "\n".join(lines)


def main(folder: str) -> None:
    folder = Path(folder)
    found, trained, specs = collect(folder)
    table = rows(found, trained)
    write_csv(table, folder / "lq-vs-sce.csv")
    print(markdown(table, specs, found, trained))
    print(f"\ntable: {folder / 'lq-vs-sce.csv'}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    main(sys.argv[1])
