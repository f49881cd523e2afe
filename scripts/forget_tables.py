"""Markdown tables from forget_each_class.sh's judged CSV files: per class against retrain, and per method.

    python scripts/forget_tables.py [--pruned-weights N] OUT-judged.csv [MORE-judged.csv ...]

Per class, several files (one per training seed) are averaged: each cell is the mean (± std over
files when there are several); per method, the mean ± std over the classes of those means, and how
many (class, file) rows were judged; then, per goal, how many (class, file) pairs meet it. "goals met" counts the
goals of issue 12 the forgotten child meets: Df <= 1%; Dr within 1 pt of retrain's; probe recall
within 5 pts of retrain's; Anamnesis index >= 0.8; membership rate within 5 pts of retrain's;
<= 2% of the pruned layers' weights changed (--pruned-weights: their size, default the seed
model's layers 0-2, 1,904,000); the forgetting >= 20x faster than the retraining.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict

FIGURES = ("df", "dr", "probe_recall", "relearn_df_10", "relearn_steps", "anamnesis", "mia", "weights_changed", "seconds")


def read(paths: list[str]) -> dict:
    """{(class, method): {figure: [value per file]}}"""
    table = defaultdict(lambda: defaultdict(list))
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for key in FIGURES:
                    if row.get(key) not in (None, ""):
                        table[(int(row["class"]), row["method"])][key].append(float(row[key]))
    return table


def cell(values: list[float], scale: float = 100, digits: int = 1) -> str:
    if not values:
        return "–"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def mean_of(table, method, key, classes):
    return [statistics.fmean(table[(c, method)][key]) for c in classes if table[(c, method)].get(key)]


GOALS = ("Df ≤ 1%", "Dr within 1 pt of retrain", "probe within 5 pts of retrain", "anamnesis ≥ 0.8",
         "MIA within 5 pts of retrain", "≤ 2% of the weights", "≥ 20× faster than retrain")


def goals_met(m, f, r, pruned_weights: int) -> list[bool]:
    """Which of GOALS the child's figures f meet beside retrain's r; m(figures, key) reads one figure."""
    near = 1e-9  # 0.93 - 0.88 is 0.05000000000000004 in floating point: a gap of exactly 5 points is within 5
    return [m(f, "df") <= 0.01 + near, abs(m(f, "dr") - m(r, "dr")) <= 0.01 + near,
            abs(m(f, "probe_recall") - m(r, "probe_recall")) <= 0.05 + near, m(f, "anamnesis") >= 0.8 - near,
            abs(m(f, "mia") - m(r, "mia")) <= 0.05 + near, m(f, "weights_changed") <= 0.02 * pruned_weights,
            m(r, "seconds") >= 20 * m(f, "seconds")]


def goal_tally(paths: list[str], child: str, pruned_weights: int) -> str:
    """How many (class, file) pairs meet each goal, each file judged on its own figures."""
    met, pairs = [0] * len(GOALS), 0
    for path in paths:
        table = read([path])
        for c in sorted({c for c, _ in table}):
            f, r = table[(c, child)], table[(c, "retrain")]
            if not (f and r):
                continue
            pairs += 1
            for i, ok in enumerate(goals_met(lambda d, k: d[k][0] if d.get(k) else float("nan"), f, r,
                                             pruned_weights)):
                met[i] += ok
    return "\n".join(["| goal | (class, seed) pairs that meet it |", "| --- | --- |",
                      *(f"| {goal} | {n}/{pairs} |" for goal, n in zip(GOALS, met))])


def per_class(table, child: str, pruned_weights: int) -> str:
    classes = sorted({c for c, _ in table})
    lines = ["| class | Df % | Dr % (retrain) | probe % (parent / retrain) | relearn steps (retrain) | anamnesis "
             "| MIA % (retrain) | weights % | × faster than retrain | goals met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for c in classes:
        f, r, p = table[(c, child)], table[(c, "retrain")], table[(c, "parent")]
        m = lambda d, k: statistics.fmean(d[k]) if d.get(k) else float("nan")  # noqa: E731
        goals = goals_met(m, f, r, pruned_weights)
        speed = m(r, "seconds") / m(f, "seconds")
        lines.append(f"| {c} | {cell(f['df'])} | {cell(f['dr'])} ({cell(r['dr'])}) | {cell(f['probe_recall'])} "
                     f"({cell(p['probe_recall'])} / {cell(r['probe_recall'])}) | {cell(f['relearn_steps'], 1, 1)} "
                     f"({cell(r['relearn_steps'], 1, 1)}) | {cell(f['anamnesis'], 1, 2)} | {cell(f['mia'])} ({cell(r['mia'])}) "
                     f"| {100 * m(f, 'weights_changed') / pruned_weights:.2f} | {speed:.0f}× | {sum(goals)}/7 |")
    return "\n".join(lines)


def per_method(table) -> str:
    classes = sorted({c for c, _ in table})
    methods = list(dict.fromkeys(m for _, m in sorted(table, key=lambda k: k[0])))
    lines = ["| method | Df % | Dr % | probe % | relearn Df@10 % | relearn steps | anamnesis | MIA % | seconds | runs |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method in methods:
        row = [cell(mean_of(table, method, k, classes)) for k in ("df", "dr", "probe_recall", "relearn_df_10")]
        row += [cell(mean_of(table, method, "relearn_steps", classes), 1, 1),
                cell(mean_of(table, method, "anamnesis", classes), 1, 2),
                cell(mean_of(table, method, "mia", classes)), cell(mean_of(table, method, "seconds", classes), 1, 1),
                str(sum(len(table[(c, method)]["df"]) for c in classes))]
        lines.append(f"| {method} | " + " | ".join(row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("judged", nargs="+", help="judged CSV files of forget_each_class.sh (one per training seed)")
    parser.add_argument("--pruned-weights", type=int, default=784 * 1000 + 1000 * 800 + 800 * 400)
    args = parser.parse_args()
    table = read(args.judged)
    child = next(m for _, m in table if m.startswith("forget"))
    print(per_class(table, child, args.pruned_weights))
    print()
    print(per_method(table))
    print()
    print(goal_tally(args.judged, child, args.pruned_weights))
