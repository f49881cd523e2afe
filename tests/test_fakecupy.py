"""The CuPy stand-in (tests/fakecupy) is strict where CuPy is: each implicit host/device crossing CuPy refuses
fails here too, and a product bug of that kind makes a whole `device: gpu` command fail.

These test the stand-in itself, so they always use it (even where SPARANA_TEST_GPU=real picks real CuPy).
"""

import sys

import h5py
import numpy as np
import pytest
import scipy.sparse

import tests.fakecupy as fakecupy
from sparana_cli.engine import backend as backend_module
from sparana_cli.engine.backend import backend_of, resolve_backend, to_host
from sparana_cli.spec import spec_from_mapping
from sparana_cli.ui import Console
from tests.conftest import tiny_spec
from tests.fakecupy.arrays import DEVICE, IMPLICIT


@pytest.fixture
def cp(fake_cupy):
    return fake_cupy


def test_the_stand_in_is_what_backend_py_finds_as_cupy(cp):
    gpu = resolve_backend("gpu")
    assert gpu.xp is cp and resolve_backend("auto").name == "gpu"
    x = gpu.asarray(np.arange(6.0))
    assert backend_of(x).name == "gpu" and not isinstance(x, np.ndarray)
    assert "fake CuPy device" in gpu.describe()


def test_numpy_cannot_see_into_a_device_array(cp):
    x = cp.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([x, x])
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.testing.assert_allclose(x, np.zeros((2, 3)))
    with pytest.raises(TypeError):
        np.float32(x.sum())  # a 0-d device array is not a NumPy scalar either


def test_host_and_device_arrays_do_not_mix(cp):
    x, h = cp.ones(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    for mixed in (lambda: x + h, lambda: h + x, lambda: np.add(x, h), lambda: cp.maximum(x, h),
                  lambda: np.concatenate([x, h]), lambda: cp.where(x > 0, h, x), lambda: x @ h):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    with pytest.raises(TypeError, match="Unsupported type"):
        cp.maximum(x, [0.0, 1.0, 2.0])  # CuPy's ufuncs take no lists either
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[:] = h  # CuPy copies host data in only through asarray/array/set
    with pytest.raises(TypeError):
        cp.ascontiguousarray(h)


def test_numpy_functions_and_ufuncs_dispatch_to_the_device_as_in_cupy(cp):
    x = cp.asarray(np.array([[1.0, -2.0], [3.0, 4.0]]))
    total = np.sum(x)
    assert isinstance(total, cp.ndarray) and total.shape == ()  # reductions give 0-d device arrays, not scalars
    assert float(total) == 6.0 and float(x.max()) == 4.0
    assert isinstance(np.maximum(x, 0), cp.ndarray) and isinstance(np.float32(2) * x, cp.ndarray)
    np.testing.assert_array_equal(np.concatenate([x, x]).get(), np.concatenate([x.get(), x.get()]))
    rows = cp.asarray(np.array([1, 0]))
    np.testing.assert_array_equal(np.take(x, rows, axis=0).get(), [[3.0, 4.0], [1.0, -2.0]])
    with pytest.raises(TypeError):
        np.take(x, rows, axis=0, mode="clip")  # cupy.take has no mode keyword


def test_python_scalars_come_only_from_0_d_arrays(cp):
    x = cp.arange(3.0)
    for convert in (float, int):
        with pytest.raises(TypeError, match="0-d"):
            convert(x[:1])
    assert float(x[1]) == 1.0 and int(x.sum()) == 3 and x[2].item() == 2.0
    n = cp.asarray(np.array(2))
    for as_index in (lambda: range(n), lambda: [0, 1, 2][n], lambda: np.arange(3)[:n]):
        with pytest.raises(TypeError):
            as_index()  # CuPy arrays have no __index__: int() first


def test_host_and_device_copies_are_separate(cp):
    h = np.zeros(3)
    x = cp.asarray(h)
    x += 1
    assert h.sum() == 0  # asarray of a host array copies it to the device
    back = x.get()
    back[0] = 9
    assert float(x[0]) == 1 and isinstance(back, np.ndarray)
    assert to_host(x) is not None and np.array_equal(cp.asnumpy(x), [1, 1, 1])


def test_hdf5_refuses_a_device_array(cp, tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        with pytest.raises(TypeError, match="Implicit conversion"):
            f.create_dataset("w", data=cp.ones((2, 2)))


def test_the_pretend_device_counts_its_memory(cp):
    free, total = cp.cuda.runtime.memGetInfo()
    x = cp.zeros((1000, 1000), dtype=np.float32)
    view = x[:10]
    assert cp.cuda.runtime.memGetInfo()[0] == free - 4_000_000  # the view is no second allocation
    del x, view
    assert cp.cuda.runtime.memGetInfo() == (free, total)
    assert resolve_backend("gpu").free_memory() == free
    with pytest.raises(cp.cuda.memory.OutOfMemoryError):
        cp.empty(total // 4 + 1, dtype=np.float32)


def test_the_device_random_stream_is_not_numpys(cp):
    out = cp.empty(5, dtype=np.float32)
    cp.random.default_rng(7).random(out=out, dtype=np.float32)
    assert not np.allclose(out.get(), np.random.default_rng(7).random(5, dtype=np.float32))
    with pytest.raises(TypeError):
        cp.random.default_rng(7).random(out=np.empty(5, dtype=np.float32), dtype=np.float32)


def test_elementwise_kernels_check_types_shapes_and_know_only_our_sources(cp):
    from sparana_cli.engine import kernels_gpu

    p, g = cp.ones(4, dtype=np.float32), cp.ones(4, dtype=np.float32)
    kernels_gpu.sgd(p, g, 0.5)
    np.testing.assert_array_equal(p.get(), [0.5] * 4)
    sgd = cp.ElementwiseKernel("T g, T lr", "T p", "p -= lr * g;", "sgd")
    with pytest.raises(TypeError, match="Type is mismatched"):
        sgd(g, np.float64(0.1), p)  # a float64 scalar where T is float32
    with pytest.raises(TypeError, match="Unsupported type"):
        sgd(np.ones(4, dtype=np.float32), np.float32(0.1), p)
    with pytest.raises(ValueError, match="Out shape"):
        sgd(cp.ones((2, 4), dtype=np.float32), np.float32(0.1), p)
    with pytest.raises(NotImplementedError, match="no NumPy reference"):
        cp.ElementwiseKernel("T x", "T y", "y = x * x;", "square")
    with pytest.raises(ValueError, match="its source uses"):
        cp.ElementwiseKernel("T grad, T lr", "T p", "p -= lr * g;", "sgd")  # g undeclared: nvcc would refuse it
    with pytest.raises(ValueError, match="Wrong type"):
        cp.ElementwiseKernel("TT g, T lr", "T p", "p -= lr * g;", "sgd")
    assert cp.ElementwiseKernel("float32 g, T lr", "T p", "p -= lr * g;", "sgd").inputs[0] == ("float32", "g")


def test_sparse_matrices_live_on_the_device(cp):
    dense = cp.asarray(np.eye(3, dtype=np.float32))
    m = cp_sparse = __import__("cupyx.scipy.sparse", fromlist=["csr_matrix"])
    a = cp_sparse.csr_matrix(scipy.sparse.csr_matrix(np.eye(3, dtype=np.float32)))
    assert isinstance(a @ dense, cp.ndarray) and scipy.sparse.issparse(a.get())
    with pytest.raises(TypeError, match="Unsupported type"):
        a @ np.eye(3, dtype=np.float32)
    with pytest.raises(TypeError, match="Unsupported type"):
        m.csr_matrix((np.ones(3, dtype=np.float32), np.arange(3), np.arange(4)), shape=(3, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)


def test_a_product_bug_writing_device_weights_to_hdf5_fails_the_gpu_command(cp, monkeypatch, tmp_path, idx_folder):
    """The deliberate bug: model.h5 written without the device->host copy. The CPU run cannot notice; the GPU run must."""
    from sparana_cli.phases.train import train
    from sparana_cli.store import runs

    monkeypatch.setattr(runs, "to_host", lambda array: array)
    spec = tiny_spec(idx_folder, train={"epochs": 1})
    train(spec_from_mapping(spec, "tiny.yaml"), root=tmp_path / "cpu", console=Console(json_mode=True))
    with pytest.raises(TypeError, match=IMPLICIT.split(".")[0]):
        train(spec_from_mapping({**spec, "device": "gpu"}, "tiny.yaml"), root=tmp_path / "gpu",
              console=Console(json_mode=True))


def test_a_product_bug_using_a_numpy_function_on_device_labels_fails_the_gpu_command(cp, monkeypatch, tmp_path, idx_folder):
    """The deliberate bug: metrics converting device predictions with np.asarray instead of the backend's to_host."""
    from sparana_cli.engine import metrics
    from sparana_cli.phases.train import train

    monkeypatch.setattr(metrics, "to_host", np.asarray)
    spec = {**tiny_spec(idx_folder, train={"epochs": 1}), "device": "gpu"}
    with pytest.raises(TypeError, match="Implicit conversion"):
        train(spec_from_mapping(spec, "tiny.yaml"), root=tmp_path, console=Console(json_mode=True))


def test_the_stand_in_leaves_no_trace(monkeypatch):
    with monkeypatch.context() as patch:
        fakecupy.install(patch)
        assert resolve_backend("gpu").xp is fakecupy
    fakecupy.forget_backends()
    assert sys.modules.get("cupy") is not fakecupy and backend_module._cupy() is not fakecupy


def test_training_on_the_device_stays_within_the_footprint_the_memory_check_estimates(cp, monkeypatch, tmp_path):
    """The device's live bytes at their peak, against what fitting.check_memory asked the device to have free."""
    from sparana_cli import fitting
    from sparana_cli.phases.train import train
    from tests.conftest import write_idx_folder

    folder = write_idx_folder(tmp_path / "data", n_train=1000, n_test=100)
    asked = []
    monkeypatch.setattr(fitting, "refuse_if_too_big", lambda need, available, what, key: asked.append((need, available)))
    for hidden, batch in (([24, 16], 32), ([200, 100], 500)):
        DEVICE.reset()
        spec = tiny_spec(folder, device="gpu", model={"hidden": hidden}, train={"batch_size": batch, "epochs": 1})
        train(spec_from_mapping(spec, "tiny.yaml"), root=tmp_path / str(batch), console=Console(json_mode=True))
        need, available = asked[-1]
        assert available == DEVICE.total  # the device's free memory, not the host's
        assert 0 < DEVICE.peak <= need


def test_a_network_too_big_for_the_device_is_refused_in_one_line(cp, monkeypatch, tmp_path, idx_folder):
    import yaml

    from tests.test_cli import invoke

    monkeypatch.setattr(DEVICE, "total", 200_000)  # fits the host, not this device
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(idx_folder, device="gpu", model={"hidden": [400, 100]})))
    result = invoke("train", path, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert "model.hidden" in line and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
