"""What a runs folder holds: one summary row per run (filtered, sorted, grouped by sweep), metrics side by side,
differences between specs, lineage, and what removing runs would take."""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.store import runs, runstate, sweepfolder
from sparana_cli.store.reader import RunRecord, is_run_folder, read_run
from sparana_cli.yamlfile import parse_yaml

# The "metric" column: phase -> (label, metrics group, summary attribute) items; others show test accuracy.
# A phase whose headline is not test accuracy adds a line here.
KEY_METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "forget": (("Df", "forget", "df_accuracy"), ("Dr", "forget", "dr_accuracy")),
    "attack": (("clean", "attack", "clean_accuracy"),),
}
TEST_ACCURACY = (("test", "test", "accuracy"),)
SORT_COLUMNS = ("created", "name", "phase", "parent", "dataset", "metric", "test_accuracy", "sparsity", "state")
STATE_FILTERS = ("complete", "incomplete", *runstate.STATES, runstate.KILLED, "damaged")


def records(root: Path) -> list[RunRecord]:
    """Every run and sweep folder in root, finished or not, read once; oldest first."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not root.is_dir():
        return []
    found = [read_run(folder) for folder in root.iterdir() if not folder.is_symlink() and is_run_folder(folder)]
    return sorted(found, key=lambda r: (r.created, r.name))


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
    names = (sweep.name, sweep.name.removesuffix(runs.TMP_SUFFIX))
    members = [m.name for m in all_records if m.sweep and m.sweep in names]
    return members + [m for m in _csv_runs(sweep.path) if m not in members]


def _csv_runs(folder: Path) -> list[str]:
    """Run names listed in a sweep folder's sweep.csv (how sweeps made before provenance are grouped)."""
    path = folder / sweepfolder.CSV_FILE
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


_FRACTION = re.compile(r"accuracy|sparsity|fraction|recall|(?:^|_)d[fr](?:_|$)|^mia$")  # leaf names of 0..1 shares


def metric_text(name: str, value):
    """A metric as a table shows it: a share of 0..1 (accuracy, Df, Dr, sparsity, ...) in percent like every other
    place sparana prints one (94.60%, not 0.946); other values as they are (the table rounds them); None as blank."""
    if value is None:
        return ""
    number = _number(value)
    if number is not None and not isinstance(value, (bool, np.bool_)) and is_share(name):
        return f"{100 * number:.2f}%"
    return value


def is_share(name: str) -> bool:
    """Whether a metric (test.accuracy, forget/judge.df[ssd], train.val_accuracy (last), ...) is a share of 0..1."""
    return bool(_FRACTION.search(name.split("[")[0].removesuffix(" (last)").rsplit(".", 1)[-1]))


def _number(value):
    """A finite float from a scalar number; None for anything else (text, arrays, NaN)."""
    if value is None or isinstance(value, (str, bytes)) or np.ndim(value) != 0:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


# -- side by side -------------------------------------------------------------------------------


def metric_table(record: RunRecord) -> dict[str, float]:
    """A finished run's numbers by name: group.attr summaries, the last value of per-step arrays,
    one row per class of per-class arrays, one row per method of a comparison table, and the model's sparsity.

    Array attributes (a prune's `layers`) and text are settings, not metrics: left out.
    """
    arrays, attrs = record.arrays, record.attrs
    table = {}
    for group in sorted(set(arrays) | set(attrs)):
        for name, value in attrs.get(group, {}).items():
            number = _number(value)
            if number is not None:
                table[f"{group}.{name}"] = value if isinstance(value, (bool, int)) else number
        items = arrays.get(group, {})
        methods = items.get("method")
        for name, array in items.items():
            if array.ndim != 1 or not array.size or not np.issubdtype(array.dtype, np.number):
                continue
            if methods is not None and len(methods) == len(array):  # a comparison table: one row per method
                table.update({f"{group}.{name}[{_text(m)}]": float(v) for m, v in zip(methods, array)})
            elif name.startswith("per_class"):
                table.update({f"{group}.{name}[{c}]": float(v) for c, v in enumerate(array)})
            else:
                table[f"{group}.{name} (last)"] = float(array[-1])
    table["model.sparsity"] = record.sparsity
    return table


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def compare(folders: list[Path]) -> dict[str, list]:
    """metric name -> one value per run (None where a run lacks it), in order of first appearance."""
    tables = [metric_table(read_run(f, strict=True)) for f in folders]
    names = list(dict.fromkeys(name for t in tables for name in t))
    return {name: [t.get(name) for t in tables] for name in names}


def diff_specs(a: Path, b: Path) -> dict[str, tuple]:
    """key path -> (value in a, value in b) for every key whose resolved value differs (None: absent)."""
    left, right = (_flat(read_run(f, strict=True).spec) for f in (a, b))
    missing = object()
    out = {}
    for key in dict.fromkeys([*left, *right]):
        va, vb = left.get(key, missing), right.get(key, missing)
        if va != vb:
            out[key] = (None if va is missing else va, None if vb is missing else vb)
    return out


def _flat(mapping: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in (mapping or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out


# -- lineage --------------------------------------------------------------------------------------


def parent_record(record: RunRecord) -> RunRecord | None:
    """The parent run's records, when the run names one that is still there and readable."""
    if not record.parent:
        return None
    folder = Path(record.parent)
    if not folder.is_dir():
        folder = record.path.parent / folder.name  # a runs folder that moved: look beside the child
    if not folder.is_dir():
        return None
    parent = read_run(folder)
    return None if parent.state == "damaged" else parent


def lineage(record: RunRecord, all_records: list[RunRecord]) -> dict:
    """Ancestors (parent first) and descendants (children first) of a run, by name."""
    ancestors, seen = [], {record.name}
    current = record
    while (current := parent_record(current)) is not None and current.name not in seen:
        ancestors.append(current.name)
        seen.add(current.name)
    return {"ancestors": ancestors, "descendants": [r.name for r in descendants(record, all_records)]}


def descendants(record: RunRecord, all_records: list[RunRecord]) -> list[RunRecord]:
    """Every run that names this one as parent, or a parent of those, children first."""
    out, frontier = [], [record.name]
    while frontier:
        children = [r for r in all_records if r.parent and Path(r.parent).name in frontier and r not in out]
        out += children
        frontier = [c.name for c in children]
    return out


def removal_plan(root: Path, names: list[str], *, recursive: bool, incomplete: bool) -> list[RunRecord]:
    """The run folders `runs rm` would remove: those named, their descendants with recursive, and with
    incomplete every unfinished folder whose process is gone (killed, interrupted, failed).

    A run with children is refused without recursive; a running run is always refused.
    """
    all_records = records(root)
    plan: list[RunRecord] = []
    for name in names:
        folder = locate(root, name)
        record = next((r for r in all_records if r.path.resolve() == folder.resolve()), None) or read_run(folder)
        children = descendants(record, all_records)
        if children and not recursive:
            raise UserError(f"{record.name}: has {len(children)} child run(s) ({', '.join(c.name for c in children[:3])}"
                            f"{', ...' if len(children) > 3 else ''}); remove them too with --recursive")
        plan += [record, *(children if recursive else [])]
        if record.phase == "sweep" and recursive:
            members = sweep_members(record, all_records)
            plan += [r for r in all_records if r.name in members]
    if incomplete:
        plan += [r for r in all_records if not r.finished and r.state != runstate.RUNNING and r.phase != "sweep"]
    unique = list({r.path: r for r in plan}.values())
    running = [r.name for r in unique if r.state == runstate.RUNNING]
    if running:
        raise UserError(f"{running[0]}: still running; stop it first (Ctrl-C or kill -TERM)")
    for record in unique:  # asked before anything is said or removed: a read-only folder is refused whole
        stuck = [p for p in (record.path.parent, record.path) if not os.access(p, os.W_OK | os.X_OK)]
        if stuck:
            raise UserError(f"{stuck[0]}: read-only, so {record.name} cannot be removed; nothing was removed")
    return unique


def locate(root: Path, name: str) -> Path:
    """A run or sweep folder, finished or not, by path or by name in root."""
    for candidate in (Path(name), root / name):
        if candidate.is_dir() and not candidate.is_symlink():
            if not is_run_folder(candidate):
                raise UserError(f"{candidate}: not a run folder (no {runs.SPEC_FILE} or {runstate.STATUS_FILE})")
            return candidate
    raise UserError(f"run {name}: no such folder (looked in . and {root})")


def remove(plan: list[RunRecord]) -> None:
    """Delete the planned folders (children first, so a crash midway never leaves a child without its parent)."""
    for k, record in enumerate(reversed(plan)):
        try:
            shutil.rmtree(record.path)
        except OSError as err:
            raise UserError(f"{err.filename or record.path}: cannot remove ({err.strerror or err}); removed {k} of "
                            f"{len(plan)} folders before it") from None


def attack_series(record: RunRecord, root: Path) -> dict[str, tuple[dict, dict]]:
    """An attack run's curves, and beside them the newest attack of the same kind (dataset, method, attack loss,
    eps) on a model trained with the other loss: LQ and SCE side by side when both exist."""
    from sparana_cli.plots import attack_label

    mine = record.attrs.get("attack", {})
    series = {attack_label(mine): (record.arrays.get("attack", {}), mine)}
    others = [r for r in records(root) if r.phase == "attack" and r.finished and r.state == "completed"
              and r.path.resolve() != record.path.resolve() and r.dataset == record.dataset]
    for other in reversed(others):
        theirs = other.attrs.get("attack", {})
        same = all(theirs.get(k) == mine.get(k) for k in ("method", "attack_loss"))
        eps = other.arrays.get("attack", {}).get("eps")
        if same and theirs.get("loss") != mine.get("loss") and eps is not None and \
                np.array_equal(eps, record.arrays.get("attack", {}).get("eps")):
            series[attack_label(theirs) + f" ({other.name})"] = (other.arrays["attack"], theirs)
            break
    return series
