"""The fused kernels (kernels_cpu on NumPy, kernels_gpu on CuPy) against plain NumPy formulas."""

import math
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from sparana_cli.engine.backend import to_host

DTYPES = ["float32", "float64"]


def arrays(shape, dtype, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(dtype) for _ in range(count)]


def on(backend, *host):
    """Device copies (never the host arrays themselves: the kernels work in place)."""
    copies = [backend.xp.array(a, copy=True) for a in host]
    return copies if len(copies) > 1 else copies[0]


def tolerance(dtype):
    return {"rtol": 1e-6, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-13, "atol": 1e-13}


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_relu(backend, dtype):
    z, b = arrays((7, 5), dtype, 1)[0], arrays((5,), dtype, 1, seed=1)[0]
    z[0, 0] = np.nan
    device = on(backend, z)
    backend.kernels.bias_relu(device, on(backend, b))
    expected = np.maximum(z + b, 0)
    np.testing.assert_array_equal(to_host(device), expected)  # NaN stays NaN, like np.maximum
    assert to_host(device).dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1 / 0.7])
def test_relu_backward(backend, dtype, scale):
    delta, act = arrays((6, 9), dtype, 2)
    act = np.maximum(act, 0)
    device = on(backend, delta)
    backend.kernels.relu_backward(device, on(backend, act), scale)
    np.testing.assert_allclose(to_host(device), delta * (act > 0) * np.asarray(scale, dtype), **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_and_momentum(backend, dtype):
    p, g, v = arrays((4, 3), dtype, 3)
    dp, dg, dv = on(backend, p, g, v)
    backend.kernels.sgd(dp, dg, 0.1)
    np.testing.assert_allclose(to_host(dp), p - 0.1 * g, **tolerance(dtype))
    dp = on(backend, p)
    backend.kernels.sgd_momentum(dp, dg, dv, 0.1, 0.9)
    np.testing.assert_allclose(to_host(dv), 0.9 * v + g, **tolerance(dtype))
    np.testing.assert_allclose(to_host(dp), p - 0.1 * (0.9 * v + g), **tolerance(dtype))
    np.testing.assert_array_equal(to_host(dg), g)  # the gradient is only read


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step(backend, dtype):
    p, g, m, v = arrays((5, 2), dtype, 4)
    v = np.abs(v)
    lr, b1, b2, eps, t = 0.01, 0.9, 0.999, 1e-8, 3
    dp, dm, dv = on(backend, p, m, v)
    backend.kernels.adam(dp, on(backend, g), dm, dv, lr / (1 - b1**t), b1, b2, 1 / math.sqrt(1 - b2**t), eps)
    m_new = b1 * m + (1 - b1) * g
    v_new = b2 * v + (1 - b2) * g * g
    expected = p - lr * (m_new / (1 - b1**t)) / (np.sqrt(v_new / (1 - b2**t)) + eps)
    np.testing.assert_allclose(to_host(dm), m_new, **tolerance(dtype))
    np.testing.assert_allclose(to_host(dv), v_new, **tolerance(dtype))
    np.testing.assert_allclose(to_host(dp), expected, rtol=1e-5 if dtype == "float32" else 1e-12)


def coordinates(n_in, n_out, count, seed=0):
    flat = np.sort(np.random.default_rng(seed).choice(n_in * n_out, count, replace=False))
    return flat // n_out, flat % n_out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 37])  # no rows: every product is an empty sum, 0
@pytest.mark.parametrize("count", [60, 129])  # 129: one coordinate past a GPU block of 128 threads
def test_sddmm_equals_the_dense_gradient_at_the_chosen_coordinates(backend, dtype, n, count):
    a, delta = arrays((n, 23), dtype, 1)[0], arrays((n, 17), dtype, 1, seed=1)[0]
    rows, cols = coordinates(23, 17, count)
    out = backend.xp.full(count, np.nan, dtype=dtype)
    backend.kernels.sddmm(*on(backend, a, delta, rows, cols), out)
    dense = a.T @ delta
    np.testing.assert_allclose(to_host(out), dense[rows, cols], rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)


def test_sddmm_is_bitwise_the_same_on_any_number_of_threads():
    from sparana_cli.engine import kernels_cpu

    a, delta = arrays((250, 300), "float32", 1)[0], arrays((250, 100), "float32", 1, seed=1)[0]
    rows, cols = coordinates(300, 100, 3000)
    results = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            out = np.empty(3000, dtype=np.float32)
            kernels_cpu.sddmm(a, delta, rows, cols, out)
            results.append(out)
    finally:
        numba.set_num_threads(before)
    assert all(r.tobytes() == results[0].tobytes() for r in results)


def taylor_margin_by_definition(gain, w, live, a, delta, starts):
    best = np.zeros(w.shape)
    for start, stop in zip(starts[:-1], starts[1:]):
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                if stop > start:
                    best[i, j] = max(best[i, j], abs(np.mean(a[start:stop, i].astype(float) * delta[start:stop, j])))
    score = w * gain.astype(float) - np.abs(w) * best
    return np.where(live & (score > 0), score, -np.inf)


@pytest.mark.parametrize("starts", [[0, 3, 3, 10, 11], [0, 11], [11]])  # an empty group; one group; no group
def test_taylor_margin_equals_its_definition_in_both_twins(starts):
    from sparana_cli.engine import kernels_cpu, kernels_gpu

    rng = np.random.default_rng(3)
    gain, w = arrays((13, 9), "float32", 2, seed=4)
    a = np.maximum(rng.normal(size=(11, 13)), 0).astype(np.float32)  # ReLU inputs: zeros the CPU kernel skips
    a[0, :] = 1.0  # and ones, which it must not
    delta = rng.normal(size=(11, 9)).astype(np.float32)
    live = rng.random((13, 9)) > 0.2
    w[0, :3], live[0, :3] = 0, True  # live weights at exactly zero score 0: not positive, so not kept
    expected = taylor_margin_by_definition(gain, w, live, a, delta, starts)
    for twin in (kernels_cpu, kernels_gpu):  # the GPU twin is written for any array module
        out = np.empty((13, 9), np.float32)
        positive = twin.taylor_margin(gain, w, live, a, delta, starts, out)
        np.testing.assert_array_equal(np.isfinite(out), np.isfinite(expected))
        assert np.all(out[~np.isfinite(out)] == -np.inf)
        np.testing.assert_allclose(out[np.isfinite(out)], expected[np.isfinite(expected)], rtol=1e-5, atol=1e-7)
        assert positive == int(np.isfinite(expected).sum()) > 0


SHOW_THREADING_LAYER = """
import numba, numpy as np
from sparana_cli.engine import kernels_cpu
a = np.ones((4, 3), np.float32); out = np.empty(2, np.float32)
kernels_cpu.sddmm(a, a, np.array([0, 1]), np.array([1, 2]), out)
print(numba.threading_layer())
"""


@pytest.mark.parametrize("chosen, expected", [(None, "workqueue"), ("omp", "omp")])
def test_parallel_kernels_use_workqueue_threads_unless_the_user_chose(chosen, expected):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if chosen:
        env["NUMBA_THREADING_LAYER"] = chosen
    try:
        shown = subprocess.run([sys.executable, "-c", SHOW_THREADING_LAYER], env=env, capture_output=True, text=True,
                               check=True).stdout.split()[-1]
    except subprocess.CalledProcessError as error:
        if chosen and "No threading layer could be loaded" in error.stderr:
            pytest.skip(f"Numba's {chosen} layer is not available here")
        raise
    assert shown == expected


def test_updates_refuse_a_strided_parameter_instead_of_updating_a_copy():
    from sparana_cli.engine import kernels_cpu

    p = np.zeros((4, 6), dtype=np.float32)[:, :3]
    with pytest.raises(ValueError) as refused:
        kernels_cpu.sgd(p, np.ones_like(p), 0.1)
    assert str(refused.value) == "fused updates need C-contiguous arrays, got one shaped (4, 3) with strides (24, 4)"
