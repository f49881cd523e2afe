"""A test-only stand-in for the `cupy` module: NumPy underneath, strict where CuPy is strict.

Its arrays (`ndarray`) are a type of their own that NumPy cannot see into: `np.asarray`, `h5py`
writes and anything else that asks for `__array__` raise CuPy's TypeError; NumPy functions and
ufuncs applied to them dispatch back here (as CuPy's `__array_function__` / `__array_ufunc__`
do) and refuse NumPy arrays mixed in (CuPy's "Unsupported type"); `float()`/`int()` take only
0-d arrays; reductions return 0-d device arrays, not scalars; host arrays reach the device only
through `asarray`/`array` (always a copy) and come back only through `.get()`/`asnumpy`.
Allocations are counted on a pretend device (`cuda.runtime.memGetInfo`). `install(monkeypatch)`
puts it in sys.modules as `cupy` and `cupyx.scipy.sparse`; it never ships with the product.

What it cannot prove: that the CUDA sources compile, what real kernels compute (each
ElementwiseKernel runs a NumPy reference of its source), CuPy's exact function coverage and
keywords (any NumPy function is offered), and anything about speed.
"""

from __future__ import annotations

import functools
import sys
import types

import numpy as np

from tests.fakecupy import cuda, random  # noqa: F401  (cupy.cuda, cupy.random)
from tests.fakecupy.arrays import asnumpy, device_function, ndarray, unwrap, wrap  # noqa: F401
from tests.fakecupy.kernels import ElementwiseKernel  # noqa: F401

__version__ = "0.0-fake"

def asarray(a, dtype=None, order=None):
    """A device array: the same one if already there with that dtype, else a device copy."""
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    return wrap(np.array(unwrap(a, host_ok=True), dtype=dtype, order=order or "K", copy=True))


def array(a, dtype=None, copy=True, order="K", ndmin=0):
    """A device copy of a (host or device) array."""
    if isinstance(a, ndarray):
        a = a._a
    return wrap(np.array(unwrap(a, host_ok=True), dtype=dtype, copy=True, order=order, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        raise TypeError(f"Unsupported type {type(a)}")  # CuPy's ascontiguousarray takes device arrays only
    return wrap(np.ascontiguousarray(a._a, dtype=dtype))


def take(a, indices, axis=None, out=None):
    """cupy.take: no `mode` keyword (CuPy wraps out-of-range indices; NumPy's mode= is a TypeError there)."""
    return _numpy_function("take")(a, indices, axis=axis, out=out)


def get_array_module(*args):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


linalg = types.SimpleNamespace(**{name: device_function(getattr(np.linalg, name))
                                  for name in ("solve", "norm", "inv", "lstsq", "svd", "eigh", "qr", "det")})


@functools.cache
def _numpy_function(name: str):
    return device_function(getattr(np, name))


def __getattr__(name: str):
    """Anything else NumPy has: types and constants as they are (CuPy aliases NumPy's), functions on device arrays."""
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(np, name)  # AttributeError for what NumPy lacks
    if isinstance(value, type) or not callable(value):
        return value
    return _numpy_function(name)


def install(monkeypatch) -> None:
    """Make `import cupy` / `import cupyx.scipy.sparse` give this stand-in and kernels_gpu launch the SDDMM
    reference instead of numba.cuda (all undone with the monkeypatch; call forget_backends() after that)."""
    from sparana_cli.engine import kernels_gpu
    from tests.fakecupy import kernels, sparse
    from tests.fakecupy.arrays import DEVICE

    this = sys.modules[__name__]
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.sparse = sparse
    for name, module in {"cupy": this, "cupy.cuda": cuda, "cupy.random": random, "cupy.linalg": linalg,
                         "cupyx": cupyx, "cupyx.scipy": cupyx.scipy, "cupyx.scipy.sparse": sparse}.items():
        monkeypatch.setitem(sys.modules, name, module)
    DEVICE.reset()
    monkeypatch.setattr(kernels_gpu, "cuda", kernels.numba_cuda)
    monkeypatch.setattr(kernels_gpu, "sddmm_kernel", kernels.sddmm_kernel)
    forget_backends()


def forget_backends() -> None:
    """Clear what backend.py and kernels_gpu.py cached about CuPy, so the next use finds whichever is installed."""
    from sparana_cli.engine import backend, kernels_gpu

    backend._cupy.cache_clear()
    backend._gpu_kernels.cache_clear()
    kernels_gpu._elementwise.cache_clear()
