"""What a runs folder holds beyond the `runs` table (listing.py): metrics side by side, differences between specs,
lineage, and what removing runs would take."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.store import runs, runs_index, runstate
from sparana_cli.store.listing import _flat, _number, records, sweep_members
from sparana_cli.store.record import RunRecord, is_run_folder, read_run

# -- side by side -------------------------------------------------------------------------------


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


ABSENT = object()  # a key one spec does not have (None is a null)


def diff_specs(a: Path, b: Path) -> dict[str, tuple]:
    """key path -> (value in a, value in b) for every key whose resolved value differs (ABSENT: not in that spec)."""
    left, right = (_flat(read_run(f, strict=True).spec) for f in (a, b))
    out = {}
    for key in dict.fromkeys([*left, *right]):
        va, vb = left.get(key, ABSENT), right.get(key, ABSENT)
        if va != vb:
            out[key] = (va, vb)
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
    for root in {r.path.parent for r in plan}:
        runs_index.drop(root, [r.name for r in plan if r.path.parent == root])


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
        if any(theirs.get(k) != mine.get(k) for k in ("method", "attack_loss")) or theirs.get("loss") == mine.get("loss"):
            continue
        arrays = read_run(other.path).arrays.get("attack", {})  # the index holds no arrays: read the curves
        eps = arrays.get("eps")
        if eps is not None and np.array_equal(eps, record.arrays.get("attack", {}).get("eps")):
            series[attack_label(theirs) + f" ({other.name})"] = (arrays, theirs)
            break
    return series
