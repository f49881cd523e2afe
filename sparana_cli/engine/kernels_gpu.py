"""Fused GPU kernels: CuPy ElementwiseKernels and a numba.cuda SDDMM, twins of kernels_cpu.py.

Imported only by backend.py once CuPy has found a GPU. CuPy is imported lazily so that the
CUDA SDDMM kernel can be tested on the CPU under NUMBA_ENABLE_CUDASIM=1 without CuPy.
Elementwise kernels take the arrays they update as outputs, which CuPy lets the body read:
one launch, one pass over memory. Scalars are passed as NumPy scalars of the arrays' dtype.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from sparana_cli.signals import uninterrupted

SDDMM_THREADS = 128  # threads per block


@functools.cache
def _elementwise():
    import cupy

    kernel = cupy.ElementwiseKernel
    return {
        "bias_relu": kernel("T b", "T z", "T s = z + b; z = s < (T)0 ? (T)0 : s;", "sparana_bias_relu"),
        "relu_backward": kernel("T act, T scale", "T delta", "delta = act > (T)0 ? delta * scale : (T)0;",
                                "sparana_relu_backward"),
        "sgd": kernel("T g, T lr", "T p", "p -= lr * g;", "sparana_sgd"),
        "sgd_momentum": kernel("T g, T lr, T momentum", "T p, T v", "v = momentum * v + g; p -= lr * v;",
                               "sparana_sgd_momentum"),
        "adam": kernel(
            "T g, T lr_t, T b1, T b2, T c2, T eps", "T p, T m, T v",
            "m = b1 * m + ((T)1 - b1) * g; v = b2 * v + ((T)1 - b2) * (g * g); p -= lr_t * m / (sqrt(v) * c2 + eps);",
            "sparana_adam"),
    }


def bias_relu(z, b) -> None:
    """z = max(z + b, 0) in place; z (n, out), b (out,)."""
    _elementwise()["bias_relu"](b, z)


def relu_backward(delta, act, scale) -> None:
    """delta *= relu'(.) * scale in place, reading relu' off the activation act."""
    _elementwise()["relu_backward"](act, delta.dtype.type(scale), delta)


def sgd(p, g, lr) -> None:
    """p -= lr * g in place."""
    _elementwise()["sgd"](g, p.dtype.type(lr), p)


def sgd_momentum(p, g, v, lr, momentum) -> None:
    """v = momentum * v + g; p -= lr * v, in place."""
    t = p.dtype.type
    _elementwise()["sgd_momentum"](g, t(lr), t(momentum), p, v)


def adam(p, g, m, v, lr_t, b1, b2, c2, eps) -> None:
    """Adam in place: m, v updated from g; p -= lr_t * m / (sqrt(v) * c2 + eps)."""
    t = p.dtype.type
    _elementwise()["adam"](g, t(lr_t), t(b1), t(b2), t(c2), t(eps), p, m, v)


@cuda.jit
def sddmm_kernel(a, delta, rows, cols, out):
    """One thread per chosen coordinate k: out[k] = sum_n a[n, rows[k]] * delta[n, cols[k]]."""
    k = cuda.grid(1)
    if k < out.shape[0]:
        i = rows[k]
        j = cols[k]
        s = a[0, i] * delta[0, j]  # n >= 1; keeps the accumulator in the arrays' dtype
        for r in range(1, a.shape[0]):
            s += a[r, i] * delta[r, j]
        out[k] = s


@uninterrupted  # numba.cuda compiles the kernel at its first launch
def sddmm_launch(a, delta, rows, cols, out, stream=0) -> None:
    """Launch sddmm_kernel over every coordinate (arrays any numba.cuda accepts)."""
    blocks = (out.shape[0] + SDDMM_THREADS - 1) // SDDMM_THREADS
    if blocks:
        sddmm_kernel[blocks, SDDMM_THREADS, stream](a, delta, rows, cols, out)


def sddmm(a, delta, rows, cols, out) -> None:
    """Sampled dense-dense product on CuPy arrays, queued on CuPy's current stream.

    out[k] = sum_n a[n, rows[k]] * delta[n, cols[k]]; a (n, in), delta (n, out), out (K,).
    """
    import cupy

    if a.shape[0] == 0:
        out[...] = 0
        return
    current = cupy.cuda.get_current_stream()
    stream = cuda.external_stream(current.ptr) if current.ptr else cuda.default_stream()
    # sync=False: the arrays are ordered on the stream we launch on, so no host wait is needed
    views = [cuda.as_cuda_array(x, sync=False) for x in (a, delta, rows, cols, out)]
    sddmm_launch(*views, stream=stream)


def array_module(array):
    """numpy for a NumPy array, else cupy. (backend.py imports this module, so it does not import backend.py back.)"""
    if isinstance(array, (np.ndarray, np.generic)):
        return np
    import cupy

    return cupy


def taylor_margin(gain, w, live, a, delta, starts, out) -> int:
    """out = W * gain - |W| * max_c |mean over group c's rows of a_i delta_j| where live and positive, else -inf.

    The twin of kernels_cpu.taylor_margin, one product per group: on a GPU those are cheap. Written
    for any array module (it also runs on NumPy arrays, which is how the CPU tests check it).
    """
    xp = array_module(w)
    best = xp.zeros(w.shape, dtype=w.dtype)
    for start, stop in zip(starts[:-1], starts[1:]):
        if stop > start:
            xp.maximum(best, xp.abs(a[start:stop].T @ delta[start:stop]) * w.dtype.type(1.0 / (stop - start)), out=best)
    score = w * gain - xp.abs(w) * best
    keep = live & (score > 0)
    out[...] = xp.where(keep, score, -xp.inf)
    return int(keep.sum())
