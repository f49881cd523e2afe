"""The four MNIST-format IDX files of a data set: where to find them, and reading them (through the decoded cache)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparana_cli.data.decoded_cache import cached_decode
from sparana_cli.data.home import data_home, user_path
from sparana_cli.data.idx import read_idx
from sparana_cli.data.labelled import LabelledData, Split, array_checksum
from sparana_cli.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
# role -> accepted file names (without .gz); the second spelling is the common re-upload's
IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def locate_idx_files(name: str, path: str | None) -> dict[str, Path] | None:
    """The four IDX files from data.path (required there), else <data home>/<name>, else Debian's copy, else None."""
    if path is not None:
        found = idx_files_in(user_path(path, "data.path"))
        if found is None:
            expected = IDX_NAMES["train_images"][0]
            raise UserError(f"data.path {path}: no {name} IDX files there (expected {expected}[.gz] and its three siblings)")
        return found
    for place in idx_places(name):
        found = idx_files_in(place)
        if found is not None:
            return found
    return None


def idx_places(name: str) -> list[Path]:
    """Where a data set's IDX files are looked for without data.path, in order: <data home>/<name>, Debian's copy."""
    return [data_home() / name, *([DEBIAN_FASHION_MNIST] if name == "fashion-mnist" else [])]


def idx_files_in(folder: Path) -> dict[str, Path] | None:
    """The four files when the folder has any of them; None when it has none; an error if partial."""
    found, missing = {}, []
    for role, names in IDX_NAMES.items():
        hits = [folder / (n + ext) for n in names for ext in ("", ".gz") if (folder / (n + ext)).is_file()]
        if hits:
            found[role] = hits[0]
        else:
            missing.append(names[0])
    if not found:
        return None
    if missing:
        raise UserError(f"{folder}: incomplete IDX set, missing {', '.join(missing)}")
    return found


def read_idx_set(files: dict[str, Path]) -> LabelledData:
    """The IDX set as stored (uint8 images, memory-mapped from the decoded cache after the first read)."""
    arrays, checksum = cached_decode(files, lambda: _decode(files))
    pool = Split(arrays["train_images"], arrays["train_labels"], str(files["train_images"]), str(files["train_labels"]))
    test = Split(arrays["test_images"], arrays["test_labels"], str(files["test_images"]), str(files["test_labels"]))
    return LabelledData(pool, test, None, checksum, f"IDX files in {files['train_images'].parent}")


def _decode(files: dict[str, Path]) -> tuple[dict[str, np.ndarray], str]:
    arrays = {role: read_idx(path) for role, path in files.items()}
    return arrays, array_checksum(*(arrays[role] for role in IDX_NAMES))
