"""The stand-in's kernels: ElementwiseKernel runs a NumPy reference chosen by the kernel's exact source, after
checking arguments as CuPy does; the numba.cuda SDDMM launch is replaced by a reference in the same way.

A kernel source with no reference here is an error when the kernel is built, so a changed CUDA
source cannot keep passing against a stale reference.
"""

from __future__ import annotations

import inspect

import numpy as np

from tests.fakecupy.arrays import DEVICE, ndarray


def _bias_relu(b, z):
    s = z + b
    z[...] = np.where(s < 0, z.dtype.type(0), s)


def _relu_backward(act, scale, delta):
    delta[...] = np.where(act > 0, delta * scale, delta.dtype.type(0))


def _sgd(g, lr, p):
    p -= lr * g


def _sgd_momentum(g, lr, momentum, p, v):
    v[...] = momentum * v + g
    p -= lr * v


def _adam(g, lr_t, b1, b2, c2, eps, p, m, v):
    one = p.dtype.type(1)
    m[...] = b1 * m + (one - b1) * g
    v[...] = b2 * v + (one - b2) * (g * g)
    p -= lr_t * m / (np.sqrt(v) * c2 + eps)


REFERENCES = {  # the CUDA source of each of our kernels -> what it computes, in NumPy
    "T s = z + b; z = s < (T)0 ? (T)0 : s;": _bias_relu,
    "delta = act > (T)0 ? delta * scale : (T)0;": _relu_backward,
    "p -= lr * g;": _sgd,
    "v = momentum * v + g; p -= lr * v;": _sgd_momentum,
    "m = b1 * m + ((T)1 - b1) * g; v = b2 * v + ((T)1 - b2) * (g * g); p -= lr_t * m / (sqrt(v) * c2 + eps);": _adam,
}


def _params(text: str) -> list[tuple[str, str]]:
    """(type, name) of each parameter; a type is one letter (a type variable) or a dtype name, as CuPy requires."""
    params = [tuple(p.split()) for p in text.split(",") if p.strip()]
    for type_name, _ in params:
        if len(type_name) != 1:
            try:
                np.dtype(type_name)
            except TypeError:
                raise ValueError(f"Wrong type {type_name}") from None
    return params


class ElementwiseKernel:
    """cupy.ElementwiseKernel(in_params, out_params, operation, name): typed, broadcasting, outputs updated in place."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        if operation not in REFERENCES:
            raise NotImplementedError(f"the CuPy stand-in has no NumPy reference for kernel {name!r}: {operation!r}")
        self.inputs, self.outputs = _params(in_params), _params(out_params)
        self.reference, self.name = REFERENCES[operation], name
        declared, used = [n for _, n in self.inputs + self.outputs], list(inspect.signature(self.reference).parameters)
        if declared != used:  # nvcc would not compile a source that names an undeclared variable
            raise ValueError(f"kernel {name!r} declares {declared}, its source uses {used}")

    def __call__(self, *args, size=None, block_size=None):
        params = self.inputs + self.outputs
        if len(args) != len(params):
            raise TypeError(f"Wrong number of arguments for {self.name!r}: {len(args)} given, {len(params)} expected")
        types: dict[str, np.dtype] = {}
        for (type_name, name), arg in zip(params, args):
            if isinstance(arg, np.ndarray):
                raise TypeError(f"Unsupported type {type(arg)}")
            if (type_name, name) in self.outputs and not isinstance(arg, ndarray):
                raise TypeError(f"{self.name}: output {name!r} must be a cupy.ndarray, not {type(arg)}")
            if isinstance(arg, (ndarray, np.generic)):  # Python scalars are weakly typed; these bind T
                dtype = np.dtype(arg.dtype)
                if types.setdefault(type_name, dtype) != dtype:
                    raise TypeError(f"Type is mismatched. {name} {type_name} {dtype} {types[type_name]}")
            elif not isinstance(arg, (int, float, bool)):
                raise TypeError(f"Unsupported type {type(arg)}")
        arrays = [a._a if isinstance(a, ndarray) else a for a in args]
        shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
        for (_, name), arg in zip(self.outputs, arrays[len(self.inputs):]):
            if arg.shape != shape:
                raise ValueError(f"Out shape is mismatched: {name} {arg.shape}, broadcast shape {shape}")
        DEVICE.launches += 1
        self.reference(*arrays)


class _DeviceView:
    """What numba.cuda.as_cuda_array gives for a device array: a view the kernel may use, nothing NumPy can read."""

    def __init__(self, array: ndarray):
        self.array = array
        self.shape, self.dtype = array.shape, array.dtype


class _NumbaCuda:
    """The few numba.cuda calls kernels_gpu.sddmm makes, for the stand-in's arrays (no CUDA driver here)."""

    @staticmethod
    def as_cuda_array(obj, sync=True):
        if not isinstance(obj, ndarray):
            raise TypeError(f"as_cuda_array: {type(obj)} has no __cuda_array_interface__")
        return _DeviceView(obj)

    @staticmethod
    def external_stream(ptr):
        return ("stream", ptr)

    @staticmethod
    def default_stream():
        return ("stream", 0)


numba_cuda = _NumbaCuda()


class _SddmmKernel:
    """sddmm_kernel[blocks, threads, stream](a, delta, rows, cols, out) with the kernel's arithmetic in NumPy."""

    def __getitem__(self, config):
        blocks, threads, stream = config
        if not (isinstance(stream, tuple) and stream[0] == "stream"):
            raise TypeError(f"launch on a numba.cuda stream, not {stream!r}")

        def launch(a, delta, rows, cols, out):
            views = (a, delta, rows, cols, out)
            if not all(isinstance(v, _DeviceView) for v in views):
                raise TypeError("sddmm_kernel takes numba.cuda device arrays")
            a, delta, rows, cols, out = (v.array._a for v in views)
            if blocks * threads < out.shape[0]:
                raise ValueError(f"{blocks} blocks of {threads} threads leave coordinates out of {out.shape[0]}")
            if a.dtype != delta.dtype or out.dtype != a.dtype or rows.dtype.kind != "i" or cols.dtype.kind != "i":
                raise TypeError(f"sddmm dtypes: a {a.dtype}, delta {delta.dtype}, rows {rows.dtype}, "
                                f"cols {cols.dtype}, out {out.dtype}")
            if a.shape[0] < 1:  # the kernel seeds its sum with row 0: no rows would read past the arrays
                raise ValueError(f"sddmm_kernel needs at least one row, got a {a.shape}")
            if a.shape[0] != delta.shape[0] or not rows.shape == cols.shape == out.shape:
                raise ValueError(f"sddmm shapes: a {a.shape}, delta {delta.shape}, rows {rows.shape}, out {out.shape}")
            DEVICE.launches += 1
            out[...] = np.einsum("nk,nk->k", a[:, rows], delta[:, cols]).astype(out.dtype)

        return launch


sddmm_kernel = _SddmmKernel()
