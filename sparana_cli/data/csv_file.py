"""A data set in CSV text: one row per sample, a label column, every other column a numeric feature.

data.label_column is the label's header name (the first line is then a header) or its 0-based
index (negative: from the end) in a file without a header. Test rows come from data.test_path,
or a fixed fraction of the file is held out (the same rows whatever the run's seed).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from sparana_cli.data.labelled import LabelledData, Split
from sparana_cli.errors import UserError

_HOLDOUT_SEED = 20260101  # fixed: the test rows never move between runs


def read_csv_set(path: Path, test_path: Path | None, label_column: int | str, test_fraction: float) -> LabelledData:
    x, y, lines = read_csv_table(path, label_column)
    digest = hashlib.sha256(path.read_bytes())
    if test_path is not None:
        xt, yt, test_lines = read_csv_table(test_path, label_column)
        _known_classes(yt, test_lines, test_path, y, "")
        digest.update(test_path.read_bytes())
        pool, test = Split(x, y, str(path), f"{path}: labels"), Split(xt, yt, str(test_path), f"{test_path}: labels")
        source = f"CSV files {path} and {test_path}"
    else:
        order = np.random.default_rng(_HOLDOUT_SEED).permutation(len(y))
        n_test = max(1, int(round(test_fraction * len(y))))
        held, kept = np.sort(order[:n_test]), np.sort(order[n_test:])
        _known_classes(y[held], lines[held], path, y[kept], " (held out for testing)")
        pool = Split(x[kept], y[kept], str(path), f"{path}: labels")
        test = Split(x[held], y[held], f"{path} (held-out test rows)", f"{path}: labels (held-out test rows)")
        source = f"CSV file {path} ({n_test} rows held out for testing)"
    return LabelledData(pool, test, None, digest.hexdigest(), source)


def _known_classes(labels: np.ndarray, lines: np.ndarray, path: Path, train: np.ndarray, held: str) -> None:
    """A test label above every training label, named by its line in the file (a split's row number is in no file)."""
    if not train.size:
        return
    bad = np.flatnonzero(labels > train.max())
    if bad.size:
        i = int(bad[0])
        raise UserError(f"{path}: line {int(lines[i])}: label {int(labels[i])}{held} is not a class of the training "
                        f"rows (their labels are 0..{int(train.max())})")


def read_csv_table(path: Path, label_column: int | str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features (n, f): uint8 when every value is a whole number in 0..255, else float32; labels (n,) int64;
    each row's line in the file (n,), for messages)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: a leading byte-order mark is no part of a name
            rows = [(i + 1, row) for i, row in enumerate(csv.reader(f)) if row and any(c.strip() for c in row)]
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{path}: not a readable CSV file ({err})") from None
    if isinstance(label_column, str):
        if not rows:
            raise UserError(f"{path}: empty file (expected a header row naming data.label_column {label_column!r})")
        _, header = rows.pop(0)
        names = [c.strip() for c in header]
        if label_column not in names:
            raise UserError(f"{path}: no column {label_column!r} in the header (data.label_column); "
                            f"it has {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
        label_at, width = names.index(label_column), len(names)
    else:
        if not rows:
            raise UserError(f"{path}: empty file (no rows)")
        width = len(rows[0][1])
        if not -width <= label_column < width:
            raise UserError(f"{path}: data.label_column {label_column} is outside the {width} columns")
        label_at = label_column % width
    if not rows:
        raise UserError(f"{path}: no data rows after the header")
    if width < 2:
        raise UserError(f"{path}: a label column and at least one feature column are needed, found {width} column")
    features = np.empty((len(rows), width - 1))
    labels = np.empty(len(rows), dtype=np.int64)
    for r, (line, row) in enumerate(rows):
        if len(row) != width:
            raise UserError(f"{path}: line {line} has {len(row)} columns, expected {width}")
        cells = row[:label_at] + row[label_at + 1:]
        try:
            features[r] = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            raise UserError(f"{path}: line {line}: {bad.strip()!r} is not a number (every column but the label "
                            f"must be numeric)") from None
        labels[r] = _label(row[label_at], path, line)
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
    if bad.size:  # said here, by the file's line, before any rows are held out for testing
        raise UserError(f"{path}: line {rows[int(bad[0])][0]}: NaN or infinite feature; remove or fill it")
    whole_bytes = np.all((features >= 0) & (features <= 255) & (features == np.round(features)))
    return features.astype(np.uint8 if whole_bytes else np.float32), labels, np.asarray([line for line, _ in rows])


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _label(cell: str, path: Path, line: int) -> int:
    try:
        value = int(cell.strip())
    except ValueError:
        raise UserError(f"{path}: line {line}: label {cell.strip()!r} is not an integer (labels are the classes "
                        f"0..C-1)") from None
    if value < 0:
        raise UserError(f"{path}: line {line}: label {value} is negative (labels are the classes 0..C-1)")
    if value > np.iinfo(np.int64).max:
        raise UserError(f"{path}: line {line}: label {cell.strip()[:30]} is too large (labels are the classes 0..C-1)")
    return value
