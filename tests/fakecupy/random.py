"""cupy.random for the stand-in: default_rng gives a stream unlike NumPy's (as CuPy's XORWOW is), on device arrays."""

from __future__ import annotations

import numpy as np

from tests.fakecupy.arrays import ndarray, wrap


class Generator:
    """cupy.random.Generator: values from Philox, so no test can pass by the device repeating NumPy's PCG64 stream."""

    def __init__(self, seed):
        self._rng = np.random.Generator(np.random.Philox(int(seed)))

    def _draw(self, method, size, dtype, out):
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"Unsupported dtype {dtype}")
        if out is not None:
            if not isinstance(out, ndarray):
                raise TypeError(f"out must be a cupy.ndarray, not {type(out)}")
            if out.dtype != dtype:
                raise TypeError(f"out dtype {out.dtype} does not match {dtype}")
            getattr(self._rng, method)(out=out._a, dtype=dtype)
            return out
        return wrap(np.asarray(getattr(self._rng, method)(size=size, dtype=dtype)))

    def random(self, size=None, dtype=np.float64, out=None):
        return self._draw("random", size, dtype, out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._draw("standard_normal", size, dtype, out)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return wrap(np.asarray(self._rng.integers(low, high, size=size, dtype=dtype, endpoint=endpoint)))


def default_rng(seed=None):
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"the stand-in's default_rng takes an integer seed, not {type(seed)}")
    return Generator(seed)
