"""A data set in one HDF5 file: the four (or six) dataset paths named by data.keys."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from sparana_cli.data.claims import check_claim
from sparana_cli.data.labelled import LabelledData, read_keyed
from sparana_cli.errors import UserError
from sparana_cli.hdf5_links import check_self_contained


def read_hdf5(path: Path, keys) -> LabelledData:
    """keys: a DataKeys (dataset paths inside the file, e.g. /train/images)."""
    if not path.is_file():
        raise UserError(f"{path}: file not found (data.path)")
    try:
        with h5py.File(path, "r") as f:
            check_self_contained(f, path)
            return read_keyed(path, keys, lambda key: _dataset(f, key, path), lambda key: key in f, f"HDF5 file {path}")
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file ({err})") from None


def _dataset(f: h5py.File, key: str, path: Path) -> np.ndarray:
    node = f.get(key)
    if not isinstance(node, h5py.Dataset):
        what = "is a group, not a dataset" if node is not None else "does not exist"
        raise UserError(f"{path}: {key} {what} (data.keys)")
    if node.dtype.kind not in "uifb":
        raise UserError(f"{path}: {key} holds {node.dtype}, not numbers (data.keys)")
    check_claim(f"{path}: {key}", node.shape, node.dtype, node.id.get_storage_size(),
                compressed=node.compression is not None or bool(node.chunks and node.id.get_create_plist().get_nfilters()))
    return node[()]
