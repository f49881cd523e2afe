"""A data set in one HDF5 file: the four (or six) dataset paths named by data.keys."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from sparana_cli.data.idx_set import array_checksum
from sparana_cli.data.labelled import LabelledData, Split
from sparana_cli.errors import UserError


def read_hdf5(path: Path, keys) -> LabelledData:
    """keys: a DataKeys (dataset paths inside the file, e.g. /train/images)."""
    if not path.is_file():
        raise UserError(f"{path}: file not found (data.path)")
    try:
        with h5py.File(path, "r") as f:
            arrays = {role: _dataset(f, getattr(keys, role), path) for role in ("x_train", "y_train", "x_test", "y_test")}
            has_val = keys.x_val in f or keys.y_val in f
            if has_val:
                arrays["x_val"] = _dataset(f, keys.x_val, path)
                arrays["y_val"] = _dataset(f, keys.y_val, path)
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file ({err})") from None

    def split(x_role: str, y_role: str) -> Split:
        return Split(arrays[x_role], arrays[y_role], f"{path}: {getattr(keys, x_role)}", f"{path}: {getattr(keys, y_role)}")

    return LabelledData(split("x_train", "y_train"), split("x_test", "y_test"),
                        split("x_val", "y_val") if has_val else None,
                        array_checksum(*arrays.values()), f"HDF5 file {path}")


def _dataset(f: h5py.File, key: str, path: Path) -> np.ndarray:
    node = f.get(key)
    if not isinstance(node, h5py.Dataset):
        what = "is a group, not a dataset" if node is not None else "does not exist"
        raise UserError(f"{path}: {key} {what} (data.keys)")
    return node[()]
