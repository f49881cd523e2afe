"""The stand-in's device array: a NumPy array NumPy may not see into, on a pretend device with a memory counter."""

from __future__ import annotations

import functools
import weakref

import numpy as np

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
            "Please use `.get()` to construct a NumPy array explicitly.")  # CuPy's own words


class OutOfMemoryError(MemoryError):
    """cupy.cuda.memory.OutOfMemoryError: the pretend device is full."""


class Device:
    """The pretend GPU's memory: bytes held by live device arrays (each buffer counted once)."""

    total = 16 * 2**30

    def __init__(self):
        self.used = 0
        self.peak = 0
        self.launches = 0  # device operations run: tests check that work said to run on the GPU did
        self._held: dict[int, int] = {}

    def reset(self):
        self.used, self.peak, self._held, self.launches = 0, 0, {}, 0

    def hold(self, a: np.ndarray) -> None:
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        key = id(root)
        if key in self._held:
            return
        if self.used + root.nbytes > self.total:
            raise OutOfMemoryError(f"Out of memory allocating {root.nbytes:,} bytes (allocated so far: {self.used:,} bytes).")
        self._held[key] = root.nbytes
        self.used += root.nbytes
        self.peak = max(self.peak, self.used)
        weakref.finalize(root, self._free, key)

    def _free(self, key):
        self.used -= self._held.pop(key, 0)


DEVICE = Device()


class ndarray:
    """A device array (cupy.ndarray): the data is only reachable through .get()."""

    __slots__ = ("_a", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype=dtype)
        DEVICE.hold(self._a)

    # --- the doors NumPy would use, closed as CuPy closes them
    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__":
            return device_function(ufunc)(*inputs, **kwargs)
        return device_function(getattr(ufunc, method))(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        import tests.fakecupy as cupy

        module = cupy
        for part in func.__module__.split(".")[1:]:
            module = getattr(module, part, None)
        target = getattr(module, func.__name__, None) if module is not None else None
        if target is None or target is func:
            return NotImplemented
        return target(*args, **kwargs)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "data": (self._a.ctypes.data, False),
                "strides": None if self._a.flags.c_contiguous else self._a.strides, "version": 3}

    # --- explicit ways back to the host
    def get(self, stream=None, order="C", out=None):
        """A NumPy copy (device -> host)."""
        host = np.array(self._a, order=order, copy=True)
        if out is not None:
            out[...] = host
            return out
        return host

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def _scalar(self, kind):
        if self._a.ndim != 0:
            raise TypeError(f"only 0-d device arrays can be converted to Python scalars (shape {self._a.shape})")
        return kind(self._a[()])

    def __float__(self):
        return self._scalar(float)

    def __int__(self):
        return self._scalar(int)

    def __complex__(self):
        return self._scalar(complex)

    def __bool__(self):
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is ambiguous.")
        return bool(self._a.reshape(())[()])

    # --- plain attributes and methods, through the strict wrapper
    def __getattr__(self, name):
        if name.startswith("__"):  # __array_interface__, __array_struct__, buffers: NumPy's back doors stay shut
            raise AttributeError(name)
        value = getattr(self._a, name)
        return device_function(value) if callable(value) else wrap(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (wrap(self._a[i]) for i in range(len(self._a)))

    def __getitem__(self, key):
        return wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        if isinstance(value, np.ndarray) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")  # CuPy: no implicit host->device copy
        if isinstance(value, (list, tuple)):
            raise TypeError(f"Unsupported type {type(value)}")
        DEVICE.launches += 1
        self._a[_index(key)] = unwrap(value, host_ok=True)

    def __repr__(self):
        return repr(self._a).replace("array(", "array(device ", 1)

    def __copy__(self):
        return wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return wrap(self._a.copy())

    def __reduce__(self):
        return (array_from_host, (self._a.copy(),))


def array_from_host(a):
    return wrap(np.array(a, copy=True))


def _index(key):
    """An index for the data: device index arrays unwrapped (NumPy index arrays are accepted, as CuPy does)."""
    if isinstance(key, tuple):
        return tuple(k._a if isinstance(k, ndarray) else k for k in key)
    return key._a if isinstance(key, ndarray) else key


def unwrap(value, *, host_ok=False):
    """The NumPy data under device arrays in value (lists, tuples and dicts walked); a host array is CuPy's TypeError."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray) and not host_ok:
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        return type(value)(unwrap(v, host_ok=host_ok) for v in value)
    if isinstance(value, dict):
        return {k: unwrap(v, host_ok=host_ok) for k, v in value.items()}
    if hasattr(value, "_sparse_standin"):
        raise TypeError(f"Unsupported type {type(value)}")
    return value


def wrap(value):
    """NumPy results as device arrays: arrays and NumPy scalars (CuPy reductions give 0-d arrays), in tuples too."""
    if isinstance(value, np.ndarray):
        out = object.__new__(ndarray)
        out._a = value
        DEVICE.hold(value)
        return out
    if isinstance(value, np.generic):
        return wrap(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(wrap(v) for v in value)
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def device_function(fn):
    """fn on device arrays only: its arguments unwrapped (host arrays refused), its results wrapped.

    A ufunc also refuses lists and tuples as operands (CuPy's ufuncs take no array-likes)."""
    is_ufunc = isinstance(fn, np.ufunc)

    @functools.wraps(fn)
    def on_device(*args, **kwargs):
        if is_ufunc and any(isinstance(a, (list, tuple)) for a in args):
            raise TypeError(f"Unsupported type {type(next(a for a in args if isinstance(a, (list, tuple))))}")
        DEVICE.launches += 1
        return wrap(fn(*unwrap(args), **unwrap(kwargs)))

    return on_device


def asnumpy(a, stream=None, order="C", out=None):
    """A NumPy copy of a device array (host arrays pass through as NumPy would make them)."""
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return np.asarray(a, order=order)


def _operator(ufunc, reflected=False, inplace=False):
    on_device = device_function(ufunc)
    def op(self, other):
        if hasattr(other, "_sparse_standin"):
            return NotImplemented  # the sparse matrix's reflected operator answers (CuPy defers the same way)
        if inplace:
            on_device(self, other, out=self)
            return self
        return on_device(other, self) if reflected else on_device(self, other)

    return op


for _name, _ufunc in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                      "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "matmul": np.matmul,
                      "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
                      "lshift": np.left_shift, "rshift": np.right_shift}.items():
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
    setattr(ndarray, f"__r{_name}__", _operator(_ufunc, reflected=True))
    setattr(ndarray, f"__i{_name}__", _operator(_ufunc, inplace=True))
for _name, _ufunc in {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
                      "gt": np.greater, "ge": np.greater_equal}.items():
    setattr(ndarray, f"__{_name}__", _operator(_ufunc))
for _name, _ufunc in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", (lambda u: lambda self: device_function(u)(self))(_ufunc))
