"""What every reader returns (features and integer labels per split) and the checks all of them pass.

Each array carries where it came from ("cells.npz: y_test") so an error names the file and the key.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from sparana_cli.errors import UserError

_CHUNK = 8192  # rows per finiteness check: no boolean copy of the whole split


@dataclass(frozen=True)
class Split:
    x: np.ndarray  # (n, ...) features as stored: uint8 bytes or the file's numbers
    y: np.ndarray  # (n,) labels as stored
    x_from: str  # "file: key" of x, for messages
    y_from: str


@dataclass(frozen=True)
class LabelledData:
    """A data set as read: a training pool (validation still inside unless `val` is given), a test split."""

    pool: Split
    test: Split
    val: Split | None
    checksum: str  # recorded in every run; a different checksum means different data
    source: str  # where it came from, in words
    notice: str | None = None  # a warning the user must see


def array_checksum(*arrays: np.ndarray) -> str:
    """sha256 of the arrays' bytes in order: the data checksum runs record."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


ROLES = ("x_train", "y_train", "x_test", "y_test")  # every keyed file has these; x_val and y_val are optional


def read_keyed(path, keys, read, has, source: str) -> LabelledData:
    """LabelledData from a file of named arrays (NPZ, HDF5): read(key) gives the array data.keys names for a role.

    has(key) says whether the file holds a key; the validation pair is read when it holds either
    of its keys (read raises UserError for the other if it is missing).
    """
    arrays = {role: read(getattr(keys, role)) for role in ROLES}
    has_val = has(keys.x_val) or has(keys.y_val)
    if has_val:
        arrays["x_val"], arrays["y_val"] = read(keys.x_val), read(keys.y_val)

    def split(x_role: str, y_role: str) -> Split:
        return Split(arrays[x_role], arrays[y_role], f"{path}: {getattr(keys, x_role)}", f"{path}: {getattr(keys, y_role)}")

    return LabelledData(split("x_train", "y_train"), split("x_test", "y_test"),
                        split("x_val", "y_val") if has_val else None, array_checksum(*arrays.values()), source)


def checked(data: LabelledData) -> tuple[LabelledData, int]:
    """data with flat (n, features) x and int64 labels, and its class count; a UserError for anything off."""
    splits = [s for s in (data.pool, data.test, data.val) if s is not None]
    flat = [_checked_split(s) for s in splits]
    n_features = flat[0].x.shape[1]
    for s in flat[1:]:
        if s.x.shape[1] != n_features:
            raise UserError(f"{s.x_from}: rows of {s.x.shape[1]} features, but {flat[0].x_from} has {n_features}")
    train_labels = flat[0].y
    n_classes = int(train_labels.max()) + 1
    classes = np.unique(train_labels)  # at most one entry per row: a label of 10^12 allocates nothing of its size
    if n_classes < 2 or len(classes) < 2:
        raise UserError(f"{flat[0].y_from}: a single class ({int(train_labels[0])}); classification needs at least two")
    if len(classes) < n_classes:
        missing = int(np.flatnonzero(classes != np.arange(len(classes)))[0])  # there is one: the largest is too big
        raise UserError(f"{flat[0].y_from}: labels must be the integers 0..{n_classes - 1} (classes 0..C-1), "
                        f"but class {missing} has no training rows")
    for s in flat[1:]:
        bad = np.flatnonzero(s.y >= n_classes)
        if bad.size:
            raise UserError(f"{s.y_from}: labels must lie in 0..{n_classes - 1} (the training classes), "
                            f"found {int(s.y[bad[0]])} at row {int(bad[0])}")
    pool, test, *rest = flat
    return LabelledData(pool, test, rest[0] if rest else None, data.checksum, data.source, data.notice), n_classes


def _checked_split(s: Split) -> Split:
    x = s.x
    if x.ndim < 2:
        raise UserError(f"{s.x_from}: expected rows of features (rows, features...), found dimensions {x.shape}")
    x = x.reshape(len(x), math.prod(x.shape[1:]))  # -1 cannot be inferred for 0 rows
    if len(x) == 0 or x.shape[1] == 0:
        raise UserError(f"{s.x_from}: empty ({x.shape[0]} rows of {x.shape[1]} features)")
    if x.dtype.kind not in "uif" and x.dtype != np.bool_:
        raise UserError(f"{s.x_from}: features must be numbers, found {x.dtype}")
    if x.dtype.kind == "f":
        for start in range(0, len(x), _CHUNK):
            bad = np.flatnonzero(~np.isfinite(x[start:start + _CHUNK]).all(axis=1))
            if bad.size:
                row = start + int(bad[0])
                raise UserError(f"{s.x_from}: NaN or infinite feature at row {row}; remove or fill it")
    y = _checked_labels(s.y, len(x), s)
    return Split(x, y, s.x_from, s.y_from)


def _checked_labels(y: np.ndarray, count: int, s: Split) -> np.ndarray:
    if y.ndim != 1 or len(y) != count:
        raise UserError(f"{s.y_from}: expected {count} labels (one per row of {s.x_from}), found dimensions {y.shape}")
    if y.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            off = np.flatnonzero(y != np.round(y))
        row = int(off[0]) if off.size else 0
        raise UserError(f"{s.y_from}: labels must be integers 0..C-1, found {y.dtype} values ({y[row]} at row {row})")
    if y.dtype.kind not in "ui":
        raise UserError(f"{s.y_from}: labels must be integers 0..C-1, found {y.dtype}")
    negative = np.flatnonzero(y < 0)
    if negative.size:
        row = int(negative[0])
        raise UserError(f"{s.y_from}: labels must be integers 0..C-1, found {int(y[row])} at row {row}")
    if y.dtype.kind == "u" and y.dtype.itemsize == 8:  # 2^63 and above would wrap to negative int64 labels
        huge = np.flatnonzero(y > np.iinfo(np.int64).max)
        if huge.size:
            row = int(huge[0])
            raise UserError(f"{s.y_from}: labels must be integers 0..C-1, found {int(y[row])} at row {row}")
    return y.astype(np.int64)
