"""Claim 2's table: accuracy of LQ and SCE models under each attack and eps, mean ± std over seeds, and a PNG.

    python scripts/claims/attack_table.py RUNS_FOLDER OUT.png

Reads every finished attack run of the folder (scripts/claims/claim2_attacks.sh writes them) and names
each attack: "FGSM, own loss", "PGD-K, CE" (K steps on softmax cross-entropy, the same objective for
both models) or "transfer PGD-K, CE" (crafted on the other model of the seed, evaluated on this one).
Prints one row per data set, attack and eps: accuracy under attack of LQ and SCE, the paired difference
LQ − SCE in points, and detection AUROC (how well the output alone tells attacked from clean images).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from claim_tables import cell, dataset_label, figure, markdown, model_kind, save_png, table_command

from sparana_cli.store import runs


def attack_label(a: dict) -> str:
    """The attack of one run's /attack attributes, named the same for LQ and SCE."""
    if a["method"] == "fgsm" and a["attack_loss"] == a["loss"] and not a.get("crafted_on"):
        return "FGSM, own loss"
    name = "FGSM" if a["method"] == "fgsm" else f"PGD-{a['steps']}"
    loss = "CE" if a["attack_loss"] == "cross_entropy" else a["attack_loss"]
    return ("transfer " if a.get("crafted_on") else "") + f"{name}, {loss}"


def collect(folder: Path) -> dict:
    """{(data set, attack): {"LQ"|"SCE": {seed: (eps, accuracy, auroc, clean accuracy)}}}."""
    found = defaultdict(lambda: defaultdict(dict))
    for run in runs.finished_runs(folder, "attack"):
        arrays, attrs = runs.read_metrics(run)
        spec, kind = runs.load_run_spec(run), model_kind(runs.load_run_spec(run))
        if kind is None:
            continue
        label = dataset_label(spec.data.name, runs.read_model_attrs(run).get("dataset_source", ""))
        a, m = attrs["attack"], arrays["attack"]
        found[(label, attack_label(a))][kind][spec.seed] = (list(m["eps"]), list(m["accuracy"]), list(m["auroc"]),
                                                            a["clean_accuracy"])
    return found


def order(key) -> tuple:
    label, attack = key
    return label, attack.startswith("transfer"), attack.startswith("PGD"), len(attack), attack


def table(found: dict) -> str:
    """One row per data set, attack and eps (seeds attacked both ways only)."""
    rows = []
    for key in sorted(found, key=order):
        by_kind = found[key]
        seeds = sorted(set(by_kind["LQ"]) & set(by_kind["SCE"]))
        if not seeds:
            continue
        eps = by_kind["LQ"][seeds[0]][0]
        if key[1] == "FGSM, own loss":
            clean = [[by_kind[k][s][3] for s in seeds] for k in ("LQ", "SCE")]
            rows.append([*key, 0, len(seeds), cell(clean[0]), cell(clean[1]),
                         cell([a - b for a, b in zip(*clean)]), "", ""])
        for i, e in enumerate(eps):
            acc = [[by_kind[k][s][1][i] for s in seeds] for k in ("LQ", "SCE")]
            auc = [[by_kind[k][s][2][i] for s in seeds] for k in ("LQ", "SCE")]
            rows.append([*key, f"{e:g}", len(seeds), cell(acc[0]), cell(acc[1]), cell([a - b for a, b in zip(*acc)]),
                         cell(auc[0], 1, 3), cell(auc[1], 1, 3)])
    return markdown(["data set", "attack", "eps", "seeds", "LQ accuracy %", "SCE accuracy %", "LQ − SCE (pt, paired)",
                     "LQ detection AUROC", "SCE detection AUROC"], rows)


def plot(found: dict, path: str) -> None:
    """Per data set: mean accuracy against eps, one colour per attack, LQ solid and SCE dashed."""
    datasets = sorted({label for label, _ in found})
    fig, axes = figure(len(datasets), width=5.2, height=3.8)
    for ax, label in zip(axes, datasets):
        attacks = sorted((k for k in found if k[0] == label), key=order)
        for colour, key in enumerate(attacks):
            for kind, style in (("LQ", "-"), ("SCE", "--")):
                by_seed = found[key][kind]
                if not by_seed:
                    continue
                eps = [0.0, *next(iter(by_seed.values()))[0]]
                mean = [100 * sum(v[3] if i == 0 else v[1][i - 1] for v in by_seed.values()) / len(by_seed)
                        for i in range(len(eps))]
                ax.plot(eps, mean, style, marker="o", ms=3, color=f"C{colour}",
                        label=f"{kind}: {key[1]}" if kind == "LQ" else None)
        ax.set(xlabel="eps (L∞, pixels in [0, 1])", ylabel="accuracy under attack %", title=label, ylim=(0, 100))
        ax.legend(fontsize=7, title="solid LQ, dashed SCE", title_fontsize=7)
    fig.suptitle("Claim 2: accuracy under attack (mean over seeds)")
    save_png(fig, path)



if __name__ == "__main__":
    table_command(__doc__, collect, table, plot, "no finished attack runs of LQ or SCE models")
