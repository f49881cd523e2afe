"""The only module that knows NumPy from CuPy: picking the array module and kernels, moving arrays, device RNGs."""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.memory import host_free_memory  # noqa: F401  (re-exported: the engine's callers read it here)
from sparana_cli.profile import NUMBA_IMPORT, section, watch_numba
from sparana_cli.seeding import generator


@dataclass(frozen=True)
class Backend:
    """An array module (`xp`) and the device it runs on."""

    name: str  # "cpu" or "gpu"
    xp: ModuleType

    def asarray(self, array, dtype=None):
        """A device copy (or the same array, if already there with that dtype)."""
        return self.xp.asarray(array, dtype=dtype)

    def random(self, seed: int, stream: str):
        """A generator on the device with `.random(out=...)`, independent per stream."""
        if self.xp is np:
            return generator(seed, stream)
        return self.xp.random.default_rng(int(generator(seed, stream).integers(2**62)))

    @property
    def kernels(self) -> ModuleType:
        """The fused kernels for this device: kernels_cpu (Numba) or kernels_gpu (CuPy, numba.cuda), same API."""
        return _cpu_kernels() if self.xp is np else _gpu_kernels()

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings)."""
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()

    def quiet_float_errors(self):
        """A context in which overflow and NaN produce no warnings (callers check for non-finite values)."""
        if self.xp is np:
            return np.errstate(over="ignore", invalid="ignore", divide="ignore")
        return contextlib.nullcontext()  # CuPy never warns

    @property
    def sparse(self) -> ModuleType:
        """The sparse-matrix module of this device: scipy.sparse, or cupyx.scipy.sparse on a GPU."""
        if self.xp is np:
            import scipy.sparse

            return scipy.sparse
        import cupyx.scipy.sparse

        return cupyx.scipy.sparse

    def free_memory(self) -> int:
        """Bytes this device can still allocate: the GPU's free memory, or the host's available memory."""
        if self.xp is np:
            return host_free_memory()
        return int(self.xp.cuda.runtime.memGetInfo()[0])

    def describe(self) -> str:
        if self.xp is np:
            return f"cpu (NumPy {np.__version__})"
        props = self.xp.cuda.runtime.getDeviceProperties(self.xp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"gpu ({name}, CuPy {self.xp.__version__})"

    def take_rows(self, source, rows, out):
        """out[:] = source[rows] without a temporary (a training batch gathered in place)."""
        if self.xp is np:
            return np.take(source, rows, axis=0, out=out, mode="clip")  # mode="raise" would buffer a copy
        return self.xp.take(source, rows, axis=0, out=out)


CPU = Backend("cpu", np)


@functools.cache
def _cpu_kernels() -> ModuleType:
    with section(NUMBA_IMPORT, keep_imports=True):
        from sparana_cli.engine import kernels_cpu  # imports Numba: only when a step needs it
    watch_numba()
    return kernels_cpu


@functools.cache
def _gpu_kernels() -> ModuleType:
    from sparana_cli.engine import kernels_gpu

    return kernels_gpu


@functools.cache
def _cupy() -> ModuleType | None:
    """CuPy when it imports and a GPU answers, else None."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        cupy.zeros(1).sum().item()  # touch the device: a broken driver fails here, not mid-training
        return cupy
    except Exception:  # ImportError, CUDARuntimeError, a driver without a device, ...
        return None


def resolve_backend(device: str) -> Backend:
    """The backend for a spec's `device`: auto | cpu | gpu (gpu with no usable GPU is a UserError)."""
    if device == "cpu":
        return CPU
    cupy = _cupy()
    if cupy is not None:
        return Backend("gpu", cupy)
    if device == "gpu":
        raise UserError("device: gpu, but no usable GPU was found (CuPy missing or no CUDA device); use device: cpu or auto")
    return CPU


def backend_of(array) -> Backend:
    """The backend an array lives on."""
    if isinstance(array, (np.ndarray, np.generic)) or _cupy() is None:
        return CPU
    return Backend("gpu", _cupy())


def kernels_of(array) -> ModuleType:
    """The fused kernels for the device an array lives on."""
    return backend_of(array).kernels


def array_module(array) -> ModuleType:
    """numpy or cupy, whichever the array belongs to."""
    return backend_of(array).xp


def to_host(array) -> np.ndarray:
    """A NumPy copy of a device array (NumPy arrays pass through)."""
    if isinstance(array, np.ndarray):
        return array
    cupy = _cupy()
    if cupy is not None and isinstance(array, cupy.ndarray):
        return cupy.asnumpy(array)
    return np.asarray(array)
