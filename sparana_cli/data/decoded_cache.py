"""Decoded arrays kept as .npy files and memory-mapped, so a second load skips gzip and the IDX parser.

An entry is keyed by the identity of its source files (resolved path, size, modification time):
a replaced or edited file gets a new entry. It lives in <data home>/decoded/<key>/ and records
the checksum of the decoded arrays, which runs store. Entries are written to a temporary folder
and renamed into place; an unwritable cache is skipped, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from sparana_cli.data.home import data_home
from sparana_cli.errors import UserError

_META = "meta.json"


def cached_decode(files: dict[str, Path], decode: Callable[[], tuple[dict[str, np.ndarray], str]]):
    """(arrays by role, checksum) for the source files: memory-mapped from the cache, else decode() and store it."""
    try:
        folder = data_home() / "decoded" / _key(files)
    except UserError:  # $SPARANA_DATA names a file or an unknown ~user: decode as if the cache could not be written
        return decode()
    found = _read_entry(folder, files)
    if found is not None:
        return found
    arrays, checksum = decode()
    _write_entry(folder, arrays, checksum)
    return arrays, checksum


def _key(files: dict[str, Path]) -> str:
    identity = []
    for role, path in sorted(files.items()):
        stat = path.stat()
        identity.append([role, str(path.resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:32]


def _read_entry(folder: Path, files: dict[str, Path]):
    try:
        meta = json.loads((folder / _META).read_text())
        arrays = {role: np.load(folder / f"{role}.npy", mmap_mode="r") for role in files}
        return arrays, meta["checksum"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_entry(folder: Path, arrays: dict[str, np.ndarray], checksum: str) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError:
        return
    try:
        for role, array in arrays.items():
            np.save(tmp / f"{role}.npy", np.ascontiguousarray(array))
        (tmp / _META).write_text(json.dumps({"checksum": checksum, "roles": sorted(arrays)}))
        os.rename(tmp, folder)  # atomic; fails if another process got there first, which is as good
    except OSError:
        pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
