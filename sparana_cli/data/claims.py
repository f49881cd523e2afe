"""Sizes a data file claims, checked against the bytes it holds and the memory free before anything is allocated."""

from __future__ import annotations

import math

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.memory import host_free_memory, in_words

DEFLATE_RATIO = 1032  # the most deflate (gzip, zip) can shrink any input: a claim beyond it is a lie
SMALL = 1 << 20  # a dataset claiming at most this many bytes is read unchecked: nothing to fear, no /proc read


def check_claim(what: str, shape: tuple, dtype: np.dtype, stored: int, *, compressed: bool) -> None:
    """A UserError naming `what` when an array of `shape` and `dtype` cannot be in `stored` bytes, or cannot fit memory."""
    need = math.prod(shape) * np.dtype(dtype).itemsize
    room = stored * DEFLATE_RATIO if compressed else stored
    if need > room:
        raise UserError(f"{what}: its header claims {shape} {np.dtype(dtype)} ({in_words(need)}), but the file holds "
                        f"only {in_words(stored)}{' of compressed data' if compressed else ''} for it; the file is damaged")
    free = host_free_memory()
    if need > free:
        raise UserError(f"{what}: {shape} {np.dtype(dtype)} needs about {in_words(need)}, more than the "
                        f"{in_words(free)} of memory available")


def is_filtered(dataset) -> bool:
    """Whether an HDF5 dataset is stored compressed or otherwise filtered (its bytes may then inflate)."""
    return dataset.compression is not None or bool(dataset.chunks and dataset.id.get_create_plist().get_nfilters())


def read_dataset(dataset, what: str) -> np.ndarray:
    """An HDF5 dataset's array (a run's model.h5, metrics.h5, checkpoint.h5), its shape checked against its stored bytes
    and the free memory before anything is allocated (check_claim); `what` names it in the error."""
    if math.prod(dataset.shape or ()) * dataset.dtype.itemsize > SMALL:
        check_claim(what, dataset.shape, dataset.dtype, dataset.id.get_storage_size(), compressed=is_filtered(dataset))
    return dataset[()]
