"""A data set in one NumPy .npz file: x_train, y_train, x_test, y_test (and optionally x_val, y_val)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from sparana_cli.data.claims import check_claim
from sparana_cli.data.labelled import LabelledData, read_keyed
from sparana_cli.errors import UserError


def read_npz(path: Path, keys) -> LabelledData:
    """keys: a DataKeys (the array names to read)."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            present = set(stored.files)
            return read_keyed(path, keys, lambda key: _array(stored, present, key, path), present.__contains__,
                              f"NPZ file {path}")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found (data.path)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable .npz file ({err})") from None


def _array(stored, present: set, key: str, path: Path) -> np.ndarray:
    if key not in present:
        raise UserError(f"{path}: no array {key!r} (data.keys); it holds {', '.join(sorted(present)) or 'nothing'}")
    check_header(stored.zip, key, path)
    return stored[key]


def check_header(archive: zipfile.ZipFile, key: str, path: Path) -> None:
    """The shape the .npy header of `key` claims fits the member's bytes and the free memory (read before allocating)."""
    info = archive.getinfo(key + ".npy" if key + ".npy" in archive.namelist() else key)
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        header = member.tell()
    if dtype.hasobject:
        raise UserError(f"{path}: {key} holds Python objects; only numeric arrays are read (never unpickled)")
    compressed = info.compress_type != zipfile.ZIP_STORED
    check_claim(f"{path}: {key}", shape, dtype, (info.compress_size if compressed else info.file_size - header),
                compressed=compressed)
