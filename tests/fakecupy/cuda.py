"""cupy.cuda for the stand-in: one pretend device, a null stream, runtime queries answered from its memory counter."""

from __future__ import annotations

import types

from tests.fakecupy.arrays import DEVICE, OutOfMemoryError


class _Context:
    """Something to synchronize on and to use in a with-block; the stand-in runs everything at once."""

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Stream(_Context):
    """A CUDA stream (its ptr 0: the null stream)."""

    def __init__(self, null=False, non_blocking=False, ptr=0):
        self.ptr = ptr


Stream.null = Stream(null=True)


def get_current_stream():
    return Stream.null


class Device(_Context):
    """The one pretend GPU, id 0."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")


class CUDARuntimeError(RuntimeError):
    pass


def _device_properties(device: int) -> dict:
    Device(device)
    return {"name": b"fake CuPy device (NumPy)", "totalGlobalMem": DEVICE.total, "major": 0, "minor": 0}


runtime = types.SimpleNamespace(
    getDeviceCount=lambda: 1,
    memGetInfo=lambda: (DEVICE.total - DEVICE.used, DEVICE.total),
    getDeviceProperties=_device_properties,
    CUDARuntimeError=CUDARuntimeError,
)
memory = types.SimpleNamespace(OutOfMemoryError=OutOfMemoryError)
