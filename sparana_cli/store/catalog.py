"""What a runs folder holds: one summary row per run, metrics side by side, differences between specs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.spec import read_yaml
from sparana_cli.store import runs, runstate

# The "metric" column: phase -> (label, metrics group, summary attribute) items; others show test accuracy.
# A phase whose headline is not test accuracy adds a line here.
KEY_METRICS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "forget": (("Df", "forget", "df_accuracy"), ("Dr", "forget", "dr_accuracy")),
    "attack": (("clean", "attack", "clean_accuracy"),),
}
TEST_ACCURACY = (("test", "test", "accuracy"),)


def list_runs(root: Path) -> list[dict]:
    """A summary of every run folder in root, finished or not, oldest first; sweep folders are left out."""
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: not a folder")
    if not root.is_dir():
        return []
    rows = []
    for folder in root.iterdir():
        if not folder.is_dir() or folder.is_symlink():
            continue
        finished = not folder.name.endswith(runs.TMP_SUFFIX)
        if not (folder / runs.SPEC_FILE).is_file() and not (folder / runstate.STATUS_FILE).is_file():
            continue  # not a run folder (or one reserved a moment ago)
        status = runstate.read_status(folder, strict=False)
        if (status or {}).get("phase") == "sweep":
            continue
        rows.append(_row(folder, finished, status))
    return sorted(rows, key=lambda r: (r["created"], r["name"]))


def _row(folder: Path, finished: bool, status: dict | None) -> dict:
    status = status or {}
    state = runstate.effective_state(folder, status, finished=finished)
    row = {"run": str(folder), "name": folder.name, "phase": status.get("phase", ""), "parent": "",
           "dataset": "", "metric": "", "test_accuracy": None, "sparsity": None,
           "created": status.get("started", ""), "status": "complete" if finished else "incomplete",
           "state": state, "message": status.get("message", ""), "metrics": {}}
    spec = _read_spec(folder)
    row["dataset"] = ((spec or {}).get("data") or {}).get("name", "") if isinstance(spec, dict) else ""
    if not finished:
        if "epochs" in status:
            row["progress"] = {"epoch": status.get("epoch", 0), "step": status.get("step", 0), "epochs": status["epochs"]}
        return row
    try:
        attrs = runs.read_model_attrs(folder)
        row.update(phase=attrs.get("phase", row["phase"]), parent=Path(str(attrs.get("parent", ""))).name,
                   dataset=attrs.get("dataset", row["dataset"]), created=attrs.get("created", row["created"]))
        row["sparsity"] = sparsity(folder)
        _, metrics = runs.read_metrics(folder)
    except UserError as err:
        row.update(state="damaged", message=str(err))
        return row
    row["metrics"] = metrics
    row["test_accuracy"] = _number(metrics.get("test", {}).get("accuracy", metrics.get("train", {}).get("test_accuracy")))
    row["metric"] = key_metric(row["phase"], metrics)
    return row


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


def sparsity(folder: Path) -> float:
    """Fraction of weights masked out, over all layers (the masks say which weights exist)."""
    path = folder / runs.MODEL_FILE
    with runs.open_h5(path) as f:
        total = kept = 0
        for g in f["layers"].values():
            mask = g["mask"][()]
            total, kept = total + mask.size, kept + int(np.count_nonzero(mask))
    return 1 - kept / total if total else 0.0


def _read_spec(folder: Path):
    try:
        return read_yaml(folder / runs.SPEC_FILE)
    except UserError:
        return None


def _number(value):
    if value is None or isinstance(value, (str, bytes)):
        return None
    value = float(value)
    return None if math.isnan(value) else value


# -- side by side -------------------------------------------------------------------------------


def metric_table(folder: Path) -> dict[str, float]:
    """A finished run's numbers by name: group.attr summaries, the last value of per-step arrays,
    one row per class of per-class arrays, and the model's sparsity."""
    arrays, attrs = runs.read_metrics(folder)
    table = {}
    for group in sorted(set(arrays) | set(attrs)):
        for name, value in attrs.get(group, {}).items():
            if _number(value) is not None or isinstance(value, (int, float)):
                table[f"{group}.{name}"] = value
        for name, array in arrays.get(group, {}).items():
            if array.ndim != 1 or not array.size or not np.issubdtype(array.dtype, np.number):
                continue
            if name.startswith("per_class"):
                table.update({f"{group}.{name}[{c}]": float(v) for c, v in enumerate(array)})
            else:
                table[f"{group}.{name} (last)"] = float(array[-1])
    table["model.sparsity"] = sparsity(folder)
    return table


def compare(folders: list[Path]) -> dict[str, list]:
    """metric name -> one value per run (None where a run lacks it), in order of first appearance."""
    tables = [metric_table(f) for f in folders]
    names = list(dict.fromkeys(name for t in tables for name in t))
    return {name: [t.get(name) for t in tables] for name in names}


def diff_specs(a: Path, b: Path) -> dict[str, tuple]:
    """key path -> (value in a, value in b) for every key whose resolved value differs (None: absent)."""
    left, right = (_flat(_spec_mapping(f)) for f in (a, b))
    missing = object()
    out = {}
    for key in dict.fromkeys([*left, *right]):
        va, vb = left.get(key, missing), right.get(key, missing)
        if va != vb:
            out[key] = (None if va is missing else va, None if vb is missing else vb)
    return out


def _spec_mapping(folder: Path) -> dict:
    path = folder / runs.SPEC_FILE
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of keys")
    return raw


def _flat(mapping: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, path + "."))
        else:
            out[path] = value
    return out


def read_parent_metrics(folder: Path) -> tuple[Path, dict, dict] | None:
    """The parent run's folder and metrics (arrays, attrs), when the run names a readable parent."""
    try:
        parent = str(runs.read_model_attrs(folder).get("parent", ""))
    except UserError:
        return None
    if not parent or not (Path(parent) / runs.METRICS_FILE).is_file():
        return None
    try:
        return Path(parent), *runs.read_metrics(Path(parent))
    except (UserError, OSError):
        return None
