"""The backend's answers on the CPU and, through the strict CuPy stand-in, on a pretend GPU."""

import warnings

import numpy as np
import pytest
import scipy.sparse

from sparana_cli.engine import backend as backend_module
from sparana_cli.engine.backend import CPU, resolve_backend, to_host
from sparana_cli.errors import UserError


def test_the_cpu_backend_names_itself_and_its_modules():
    assert CPU.name == "cpu" and CPU.xp is np and CPU.sparse is scipy.sparse
    assert CPU.describe() == f"cpu (NumPy {np.__version__})"
    assert CPU.free_memory() > 0


def test_quiet_float_errors_silences_overflow_and_nan_on_the_cpu():
    big = np.float32(3e38)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with CPU.quiet_float_errors():
            assert np.isinf(big * np.float32(10)) and np.isnan(np.float32(0) / np.float32(0))
    with warnings.catch_warnings(), np.errstate(over="warn"):
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning):
            big * np.float32(10)  # outside the context NumPy warns as configured


def test_without_a_gpu_auto_is_the_cpu_and_gpu_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(backend_module, "_cupy", lambda: None)
    assert resolve_backend("auto") is CPU and resolve_backend("cpu") is CPU
    with pytest.raises(UserError) as refused:
        resolve_backend("gpu")
    assert str(refused.value) == ("device: gpu, but no usable GPU was found (CuPy missing or no CUDA device); "
                                  "use device: cpu or auto")
    host = to_host([1.0, 2.0])
    assert isinstance(host, np.ndarray) and host.tolist() == [1.0, 2.0]


def test_the_gpu_backend_reports_the_devices_free_memory_and_name(fake_cupy):
    gpu = resolve_backend("gpu")
    free, total = fake_cupy.cuda.runtime.memGetInfo()
    assert gpu.free_memory() == free <= total
    held = gpu.xp.zeros(1000, dtype=np.float64)
    assert gpu.free_memory() == fake_cupy.cuda.runtime.memGetInfo()[0] <= free - held.nbytes
    props = fake_cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    assert gpu.describe() == f"gpu ({name}, CuPy {fake_cupy.__version__})"
    assert gpu.sparse.__name__ != "scipy.sparse"


def test_a_backend_gathers_batch_rows_in_place(backend):
    source = backend.asarray(np.arange(20, dtype=np.float32).reshape(10, 2))
    out = backend.xp.empty((3, 2), dtype=np.float32)
    held = out
    backend.take_rows(source, backend.asarray(np.array([4, 0, 9])), out)
    assert out is held and to_host(out).tolist() == [[8, 9], [0, 1], [18, 19]]


def test_each_named_stream_is_its_own_generator_and_the_same_name_repeats(backend):
    first = [float(to_host(backend.random(7, f"stream-{i}").random(1))[0]) for i in range(300)]
    assert len(set(first)) == 300  # no two of 300 names share a stream
    again = backend.random(7, "stream-3").random(1)
    assert float(to_host(again)[0]) == first[3]
    assert float(to_host(backend.random(8, "stream-3").random(1))[0]) != first[3]


def test_the_cpu_backend_is_shared_and_cannot_be_changed():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        CPU.xp = None
    assert resolve_backend("cpu") is CPU
