"""The `sparana runs` table: one summary row per run and sweep folder, filtered, sorted and grouped by sweep.

Answered from the runs index (runs_index.py) with neither NumPy nor HDF5 loaded, unless a folder has
to be read again.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from sparana_cli.errors import UserError
from sparana_cli.store import runs_index, runstate
from sparana_cli.store.names import TMP_SUFFIX
from sparana_cli.store.record import RunRecord

# The "metric" column: phase -> (label, metrics group, summary attribute) items; others show test accuracy.
# A phase whose headline is not test accuracy adds a line here.
KEY_METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "forget": (("Df", "forget", "df_accuracy"), ("Dr", "forget", "dr_accuracy")),
    "attack": (("clean", "attack", "clean_accuracy"),),
}
TEST_ACCURACY = (("test", "test", "accuracy"),)
SORT_COLUMNS = ("created", "name", "phase", "parent", "dataset", "metric", "test_accuracy", "sparsity", "state")
STATE_FILTERS = ("complete", "incomplete", *runstate.STATES, runstate.KILLED, "damaged")


def records(root: Path, *, specs: bool = True) -> list[RunRecord]:
    """Every run and sweep folder in root, finished or not, oldest first: from the runs index where it still matches.

    specs=False leaves the specs of indexed runs out (None): decoding them is most of the index's cost.
    """
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not root.is_dir():
        return []
    return sorted(runs_index.records(root, specs=specs), key=lambda r: (r.created, r.name))


def list_runs(root: Path, *, phase=None, dataset=None, parent=None, state=None, where=(), sort=None,
              all_records: list[RunRecord] | None = None) -> list[dict]:
    """A summary row of every run folder in root (sweep folders left out), oldest first, or filtered and sorted.

    phase, dataset, parent (a run name), state (complete, incomplete or an exact state) filter; `where`
    holds KEY=VALUE items matched against the resolved spec (values read as YAML); sort names a column.
    """
    all_records = records(root) if all_records is None else all_records
    rows = [row(r) for r in all_records if r.phase != "sweep"]
    tests = [_where_test(item) for item in where]
    if state is not None and state not in STATE_FILTERS:
        raise UserError(f"--state {state}: expected one of {', '.join(STATE_FILTERS)}")
    rows = [r for r in rows
            if (phase is None or r["phase"] == phase) and (dataset is None or r["dataset"] == dataset)
            and (parent is None or r["parent"] == Path(parent).name)
            and (state is None or state in (r["status"], r["state"]))
            and all(test(r["spec"]) for test in tests)]
    if sort is not None:
        key, reverse = sort.removeprefix("-"), sort.startswith("-")
        if key not in SORT_COLUMNS:
            raise UserError(f"--sort {sort}: expected one of {', '.join(SORT_COLUMNS)} (a leading - reverses)")
        present = [r for r in rows if r[key] not in (None, "")]
        missing = [r for r in rows if r[key] in (None, "")]
        rows = sorted(present, key=lambda r: r[key], reverse=reverse) + missing  # runs without the value go last
    return rows


def sweeps(all_records: list[RunRecord]) -> list[dict]:
    """The sweep folders, each with the names of its runs (from the runs' provenance, else the sweep's CSV)."""
    return [{"run": str(r.path), "name": r.name, "created": r.created, "state": r.state,
             "status": "complete" if r.finished else "incomplete", "runs": sweep_members(r, all_records)}
            for r in all_records if r.phase == "sweep"]


def sweep_members(sweep: RunRecord, all_records: list[RunRecord]) -> list[str]:
    """Names of the runs a sweep started: those whose provenance names it, then those its sweep.csv lists."""
    names = (sweep.name, sweep.name.removesuffix(TMP_SUFFIX))
    members = [m.name for m in all_records if m.sweep and m.sweep in names]
    return members + [m for m in _csv_runs(sweep.path) if m not in members]


def _csv_runs(folder: Path) -> list[str]:
    """Run names listed in a sweep folder's sweep.csv (how sweeps made before provenance are grouped)."""
    from sparana_cli.store.sweepfolder import CSV_FILE

    path = folder / CSV_FILE
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [Path(r["run"]).name for r in csv.DictReader(handle) if r.get("run")]
    except (OSError, KeyError, csv.Error):
        return []


def row(record: RunRecord) -> dict:
    """One line of `sparana runs`."""
    out = {"run": str(record.path), "name": record.name, "phase": record.phase,
           "parent": Path(record.parent).name if record.parent else "", "dataset": record.dataset, "metric": "",
           "test_accuracy": None, "sparsity": record.sparsity, "created": record.created,
           "status": "complete" if record.finished else "incomplete", "state": record.state,
           "message": record.message, "metrics": record.attrs, "sweep": record.sweep, "spec": record.spec or {}}
    if not record.finished and "epochs" in record.status:
        s = record.status
        out["progress"] = {"epoch": s.get("epoch", 0), "step": s.get("step", 0), "epochs": s["epochs"]}
    if record.finished and record.state != "damaged":
        metrics = record.attrs
        out["test_accuracy"] = _number(metrics.get("test", {}).get("accuracy", metrics.get("train", {}).get("test_accuracy")))
        out["metric"] = key_metric(record.phase, metrics)
    return out


def _where_test(item: str):
    """KEY=VALUE -> a test of a spec mapping: the key path's value equals VALUE read as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--where {item!r}: expected KEY=VALUE, e.g. model.hidden=[300,100] or train.lr=0.01")
    from sparana_cli.yamlfile import parse_yaml

    try:
        wanted = parse_yaml(text, f"--where {key.strip()}")
    except UserError:
        wanted = text

    def test(spec: dict) -> bool:
        flat = _flat(spec)
        return key.strip() in flat and (flat[key.strip()] == wanted or str(flat[key.strip()]) == text)

    return test


def key_metric(phase: str, metrics: dict) -> str:
    """The headline numbers of a run, e.g. "test 94.51%" or "Df 2.00% Dr 95.10%"."""
    parts = []
    for label, group, attr in KEY_METRICS.get(phase, TEST_ACCURACY):
        value = _number(metrics.get(group, {}).get(attr))
        if value is not None:
            parts.append(f"{label} {100 * value:.2f}%")
    if not parts and phase in KEY_METRICS:
        return key_metric("", metrics)
    return " ".join(parts)


def _number(value):
    """A float from a scalar number (infinities kept: they sort); None for anything else (text, arrays) and NaN."""
    if value is None or isinstance(value, (str, bytes, list, tuple, dict)):
        return None
    if not isinstance(value, (int, float)):  # read from metrics.h5 just now: NumPy is loaded already
        import numpy as np

        if np.ndim(value) != 0:
            return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def _flat(mapping: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in (mapping or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out
