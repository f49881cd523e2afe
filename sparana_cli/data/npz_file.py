"""A data set in one NumPy .npz file: x_train, y_train, x_test, y_test (and optionally x_val, y_val)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from sparana_cli.data.idx_set import array_checksum
from sparana_cli.data.labelled import LabelledData, Split
from sparana_cli.errors import UserError


def read_npz(path: Path, keys) -> LabelledData:
    """keys: a DataKeys (the array names to read)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            present = set(stored.files)
            arrays = {role: _array(stored, present, getattr(keys, role), path)
                      for role in ("x_train", "y_train", "x_test", "y_test")}
            has_val = keys.x_val in present or keys.y_val in present
            if has_val:
                arrays["x_val"] = _array(stored, present, keys.x_val, path)
                arrays["y_val"] = _array(stored, present, keys.y_val, path)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (data.path)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable .npz file ({err})") from None

    def split(x_role: str, y_role: str) -> Split:
        return Split(arrays[x_role], arrays[y_role], f"{path}: {getattr(keys, x_role)}", f"{path}: {getattr(keys, y_role)}")

    return LabelledData(split("x_train", "y_train"), split("x_test", "y_test"),
                        split("x_val", "y_val") if has_val else None,
                        array_checksum(*arrays.values()), f"NPZ file {path}")


def _array(stored, present: set, key: str, path: Path) -> np.ndarray:
    if key not in present:
        raise UserError(f"{path}: no array {key!r} (data.keys); it holds {', '.join(sorted(present)) or 'nothing'}")
    return stored[key]
