"""One seed, many independent random streams (init, split, shuffle, dropout, ...)."""

from __future__ import annotations

import zlib

import numpy as np


def generator(seed: int, stream: str) -> np.random.Generator:
    """A NumPy generator for `stream`, independent of every other stream of the same seed."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])
