"""How stored features (uint8 bytes, or the file's numbers) become float32 inputs: (x - shift) / divisor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sparana_cli.errors import UserError

_CHUNK = 8192  # rows per pass when summing statistics, so no float copy of the whole split is made


@dataclass(frozen=True)
class Scaling:
    """shift and divisor: None, a float32 scalar, or a (features,) float32 array (host or device)."""

    shift: Any = None
    divisor: Any = None

    def apply(self, stored):
        """float32 rows from stored rows; array methods only, so NumPy and CuPy arrays both work."""
        x = stored.astype(np.float32)  # always a new array: the in-place steps below never touch `stored`
        if self.shift is not None:
            x -= self.shift
        if self.divisor is not None:
            x /= self.divisor
        return x

    def on(self, put) -> Scaling:
        """The same scaling with its arrays moved by put (e.g. a backend's asarray)."""
        move = lambda v: v if v is None or np.isscalar(v) else put(v)  # noqa: E731
        return Scaling(move(self.shift), move(self.divisor))


def fit_scaling(stored: np.ndarray, rows, mode: str, where: str) -> Scaling:
    """The scaling data.normalize asks for, from the training rows stored[rows] (rows None: all of stored)."""
    if mode == "none":
        return Scaling()
    if mode == "unit" and stored.dtype == np.uint8:
        return Scaling(divisor=np.float32(255))  # exactly the division the IDX files always had
    x_train = stored if rows is None else stored[rows]
    if len(x_train) == 0:
        raise UserError(f"{where}: no training rows to take data.normalize statistics from")
    if mode == "unit":
        low, high = float(x_train.min()), float(x_train.max())
        return Scaling(shift=np.float32(low), divisor=np.float32(high - low if high > low else 1.0))
    if mode == "standard":
        mean, std = _mean_std(x_train)
        std[std == 0] = 1.0  # a constant feature is centred, not divided by zero
        return Scaling(shift=mean.astype(np.float32), divisor=std.astype(np.float32))
    raise ValueError(f"unknown normalize mode {mode!r}")


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation, summed in float64 a chunk of rows at a time."""
    total = np.zeros(x.shape[1])
    for start in range(0, len(x), _CHUNK):
        total += x[start:start + _CHUNK].sum(axis=0, dtype=np.float64)
    mean = total / len(x)
    squares = np.zeros(x.shape[1])
    for start in range(0, len(x), _CHUNK):
        squares += np.square(x[start:start + _CHUNK] - mean).sum(axis=0)
    return mean, np.sqrt(squares / len(x))
