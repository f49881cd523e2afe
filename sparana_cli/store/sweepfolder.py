"""A sweep folder's files: sweep.yaml (what was swept), sweep.csv (one row per run), summary.csv and summary.png
(the headline metrics averaged over the seed axis).

The sweep folder is reserved and finished like a run (status.json, provenance.json); the runs it
starts are ordinary run folders beside it, each naming the sweep in its provenance.json.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import yaml

from sparana_cli.errors import UserError
from sparana_cli.files import atomic_path, write_text_atomic
from sparana_cli.yamlfile import read_yaml

SWEEP_FILE, CSV_FILE, SUMMARY_FILE, SUMMARY_PLOT = "sweep.yaml", "sweep.csv", "summary.csv", "summary.png"
SEED_KEYS = ("seed",)  # the axes a summary averages over


def write_plan(folder: Path, plan: dict) -> None:
    write_text_atomic(Path(folder) / SWEEP_FILE, yaml.safe_dump(plan, sort_keys=False))


def write_rows(folder: Path, columns: list[str], rows: list[dict]) -> None:
    """sweep.csv, rewritten atomically as each run ends."""
    write_csv(Path(folder) / CSV_FILE, columns, rows)


def summarize(rows: list[dict], keys: list[str], metrics: list[str]) -> list[dict]:
    """One row per combination of the non-seed keys: n completed runs, and mean and std (over seeds) of each metric.

    std is the sample standard deviation (None with fewer than two runs); runs that did not complete are left out.
    """
    group_keys = [k for k in keys if k not in SEED_KEYS]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k, "") for k in group_keys), [])
        if r.get("status") == "completed":
            groups[tuple(r.get(k, "") for k in group_keys)].append(r)
    out = []
    for values, members in groups.items():
        point = {**dict(zip(group_keys, values)), "n": len(members)}
        for metric in metrics:
            numbers = [float(m[metric]) for m in members if _is_number(m.get(metric))]
            mean = sum(numbers) / len(numbers) if numbers else None
            std = (math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1)) if len(numbers) > 1 else None)
            point.update({f"{metric}_mean": mean, f"{metric}_std": std})
        out.append(point)
    return out


def write_summary(folder: Path, points: list[dict], keys: list[str], metrics: list[str],
                  rows: list[dict] | None = None) -> list[Path]:
    """summary.csv, and summary.png: the metric against each non-seed key that varies, else (a sweep over seeds
    only, given its `rows`) each seed's value beside the mean; the paths written."""
    group_keys = [k for k in keys if k not in SEED_KEYS]
    columns = [*group_keys, "n", *(f"{m}_{s}" for m in metrics for s in ("mean", "std"))]
    written = [Path(folder) / SUMMARY_FILE]
    write_csv(written[0], columns, points)
    varying = [k for k in group_keys if len({str(p[k]) for p in points}) > 1]
    seeds = [k for k in keys if k in SEED_KEYS]
    fig = None
    if varying and metrics and any(p[f"{metrics[0]}_mean"] is not None for p in points):
        from sparana_cli.plots import summary_figure

        fig = summary_figure([p for p in points if p[f"{metrics[0]}_mean"] is not None], varying, metrics[0])
    elif not group_keys and seeds and rows and metrics and len(points) == 1 and points[0][f"{metrics[0]}_mean"] is not None:
        from sparana_cli.plots import seeds_figure

        fig = seeds_figure(rows, seeds[0], metrics[0], points[0][f"{metrics[0]}_mean"], points[0][f"{metrics[0]}_std"])
    if fig is not None:
        with atomic_path(Path(folder) / SUMMARY_PLOT) as part:
            fig.savefig(part, format="png", dpi=110)
        written.append(Path(folder) / SUMMARY_PLOT)
    return written


def read_plan(folder: Path) -> dict:
    try:
        plan = read_yaml(Path(folder) / SWEEP_FILE)
    except UserError:
        return {}
    return plan if isinstance(plan, dict) else {}


def _is_number(value) -> bool:
    if value is None or value == "":
        return False
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, restval="", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, out.getvalue())
