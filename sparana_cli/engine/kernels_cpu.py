"""Fused CPU kernels (Numba): one pass over memory where NumPy would make several.

Every kernel works in place on contiguous arrays and has a twin of the same name and
signature in kernels_gpu.py; backend.py picks the set. Scalars arrive in the arrays' dtype,
so float32 stays float32. Elementwise kernels run on one thread: they are memory-bound,
cost well under a millisecond per step, and a second thread would contend with BLAS's.
error_model="numpy" drops Python's zero-division checks, which would block vectorisation.

Parallel kernels run on Numba's workqueue threads unless NUMBA_THREADING_LAYER says otherwise:
OpenMP's threads spin for a while after each parallel loop, and on a machine with few cores they
took the cores from OpenBLAS's threads in the GEMMs that follow (a 1%-trainable step of the seed
model took 43 ms with OpenMP, 10 ms with workqueue, on 2 cores).
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit, prange

from sparana_cli.signals import uninterrupted

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


def _kernel(**options):
    """A cached Numba kernel that a signal never interrupts (compiling or loading it runs Python; see uninterrupted)."""
    return lambda function: uninterrupted(njit(cache=True, error_model="numpy", **options)(function))


_fused = _kernel()


def _flat(array):
    """A 1-D view of a C-contiguous array (reshape would silently update a copy of anything else)."""
    if not array.flags.c_contiguous:
        raise ValueError(f"fused updates need C-contiguous arrays, got one shaped {array.shape} with strides {array.strides}")
    return array.reshape(-1)


@_fused
def _bias_relu(z, b):
    rows, cols = z.shape
    for r in range(rows):
        for c in range(cols):
            s = z[r, c] + b[c]
            z[r, c] = 0 if s < 0 else s  # NaN stays NaN, as with np.maximum


def bias_relu(z, b) -> None:
    """z = max(z + b, 0) in place; z (n, out), b (out,)."""
    _bias_relu(z, b)


@_fused
def _relu_backward(delta, act, scale):
    rows, cols = delta.shape
    for r in range(rows):
        for c in range(cols):
            delta[r, c] = delta[r, c] * scale if act[r, c] > 0 else 0


def relu_backward(delta, act, scale) -> None:
    """delta *= relu'(.) * scale in place, reading relu' off the activation act (> 0 where the unit fired)."""
    _relu_backward(delta, act, delta.dtype.type(scale))


@_fused
def _sgd(p, g, lr):
    for i in range(p.size):
        p[i] -= lr * g[i]


def sgd(p, g, lr) -> None:
    """p -= lr * g in place."""
    _sgd(_flat(p), _flat(g), p.dtype.type(lr))


@_fused
def _sgd_momentum(p, g, v, lr, momentum):
    for i in range(p.size):
        vi = momentum * v[i] + g[i]
        v[i] = vi
        p[i] -= lr * vi


def sgd_momentum(p, g, v, lr, momentum) -> None:
    """v = momentum * v + g; p -= lr * v, in place."""
    t = p.dtype.type
    _sgd_momentum(_flat(p), _flat(g), _flat(v), t(lr), t(momentum))


@_fused
def _adam(p, g, m, v, lr_t, b1, b2, c2, eps):
    one = p.dtype.type(1)
    for i in range(p.size):
        gi = g[i]
        mi = b1 * m[i] + (one - b1) * gi
        vi = b2 * v[i] + (one - b2) * (gi * gi)
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (math.sqrt(vi) * c2 + eps)


def adam(p, g, m, v, lr_t, b1, b2, c2, eps) -> None:
    """Adam in place: m, v updated from g; p -= lr_t * m / (sqrt(v) * c2 + eps).

    lr_t = lr / (1 - b1^t) and c2 = 1 / sqrt(1 - b2^t) carry the bias corrections.
    """
    t = p.dtype.type
    _adam(_flat(p), _flat(g), _flat(m), _flat(v), t(lr_t), t(b1), t(b2), t(c2), t(eps))


@_kernel(parallel=True, fastmath={"reassoc", "contract"})
def _sddmm(a, delta, rows, cols, out):
    # Transposed copies make each coordinate a dot of two contiguous length-n rows.
    a_t = np.ascontiguousarray(a.T)  # (in, n)
    d_t = np.ascontiguousarray(delta.T)  # (out, n)
    n = a.shape[0]
    for k in prange(rows.size):  # one coordinate per iteration: no reduction crosses threads
        x = a_t[rows[k]]
        y = d_t[cols[k]]
        s = x[0] * y[0]  # n >= 1; starting from a product keeps the accumulator in the arrays' dtype
        for r in range(1, n):
            s += x[r] * y[r]
        out[k] = s


def sddmm(a, delta, rows, cols, out) -> None:
    """Sampled dense-dense product: out[k] = sum_n a[n, rows[k]] * delta[n, cols[k]].

    a (n, in), delta (n, out), rows and cols (K,) integer coordinates, out (K,). The weight
    gradient a.T @ delta, computed only where it is needed.
    """
    if a.shape[0] == 0:
        out[...] = 0
    else:
        _sddmm(a, delta, rows, cols, out)


TAYLOR_BLOCK = 8  # input units per pass over a group's rows: their accumulators stay in L1, each row of delta is read once


@_kernel(fastmath=True)
def _taylor_margin(gain, w, live, a_t, delta, starts, out):
    n_in, n_out = w.shape
    best = np.zeros((TAYLOR_BLOCK, n_out), dtype=w.dtype)
    acc = np.empty((TAYLOR_BLOCK, n_out), dtype=w.dtype)
    positive = 0
    for i0 in range(0, n_in, TAYLOR_BLOCK):
        nb = min(TAYLOR_BLOCK, n_in - i0)
        best[:, :] = 0
        for c in range(starts.size - 1):
            if starts[c + 1] == starts[c]:
                continue
            acc[:, :] = 0
            for r in range(starts[c], starts[c + 1]):
                for b in range(nb):
                    x = a_t[i0 + b, r]
                    if x != 0:  # ReLU inputs: about half are zero
                        for j in range(n_out):
                            acc[b, j] += x * delta[r, j]
            inv = w.dtype.type(1.0 / (starts[c + 1] - starts[c]))
            for b in range(nb):
                for j in range(n_out):
                    best[b, j] = max(best[b, j], abs(acc[b, j]) * inv)
        for b in range(nb):
            i = i0 + b
            for j in range(n_out):
                s = w[i, j] * gain[i, j] - abs(w[i, j]) * best[b, j]
                if live[i, j] and s > 0:
                    out[i, j] = s
                    positive += 1
                else:
                    out[i, j] = -np.inf
    return positive


def taylor_margin(gain, w, live, a, delta, starts, out) -> int:
    """out = W * gain - |W| * max_c |mean over group c's rows of a_i delta_j| where live and positive, else -inf.

    gain, w, live, out (in, out_units); a (rows, in) and delta (rows, out_units) with each group's
    rows contiguous, group c being rows starts[c]:starts[c+1] (no groups: no protection). The
    forgetting score taylor / taylor_disc, formed for every weight of a layer in one pass without
    the per-group products (each a full (in, out) matrix). Returns how many entries are positive.
    """
    return int(_taylor_margin(gain, w, live, np.ascontiguousarray(a.T), delta, np.asarray(starts, dtype=np.int64), out))
