"""cupyx.scipy.sparse for the stand-in: scipy.sparse matrices whose parts live on the pretend device."""

from __future__ import annotations

import numpy as np
import scipy.sparse

from tests.fakecupy.arrays import IMPLICIT, ndarray, unwrap, wrap


class spmatrix:
    """A device sparse matrix: products with device arrays only, .get() for the SciPy matrix."""

    _sparse_standin = True
    format = None

    def __init__(self, arg1, shape=None, dtype=None, copy=False):
        if scipy.sparse.issparse(arg1):  # cupyx copies a SciPy matrix to the device
            self._m = arg1.asformat(self.format).astype(dtype or arg1.dtype, copy=True)
        elif isinstance(arg1, spmatrix):
            self._m = arg1._m.asformat(self.format).astype(dtype or arg1.dtype, copy=True)
        elif isinstance(arg1, tuple):
            self._m = getattr(scipy.sparse, f"{self.format}_matrix")(unwrap(arg1), shape=shape, dtype=dtype, copy=True)
        elif isinstance(arg1, ndarray):
            self._m = getattr(scipy.sparse, f"{self.format}_matrix")(arg1._a, dtype=dtype)
        else:
            raise TypeError(f"Unsupported type {type(arg1)}")
        if self._m.dtype.kind not in "fc" and self._m.dtype != np.bool_:
            raise ValueError(f"Only bool, float32, float64, complex64 and complex128 are supported, not {self._m.dtype}")

    @classmethod
    def _of(cls, m):
        out = object.__new__(_FORMATS[m.format])
        out._m = m
        return out

    def __array__(self, *args, **kwargs):
        raise TypeError(IMPLICIT)

    shape = property(lambda self: self._m.shape)
    dtype = property(lambda self: self._m.dtype)
    nnz = property(lambda self: self._m.nnz)
    ndim = 2

    def __getattr__(self, name):  # data, indices, indptr, row, col: device arrays
        if name in ("data", "indices", "indptr", "row", "col"):
            return wrap(getattr(self._m, name))
        raise AttributeError(name)

    def get(self, stream=None):
        return self._m.copy()

    def toarray(self):
        return wrap(self._m.toarray())

    def tocsr(self):
        return self._of(self._m.tocsr())

    def tocoo(self):
        return self._of(self._m.tocoo())

    def transpose(self):
        return self._of(self._m.transpose())

    T = property(transpose)

    def _product(self, other, reflected=False):
        if isinstance(other, spmatrix):
            other = other._m
        elif not isinstance(other, ndarray):
            raise TypeError(f"Unsupported type {type(other)}")
        else:
            other = other._a
        result = other @ self._m if reflected else self._m @ other
        return self._of(result.asformat("csr")) if scipy.sparse.issparse(result) else wrap(np.asarray(result))

    def __matmul__(self, other):
        return self._product(other)

    def __rmatmul__(self, other):
        return self._product(other, reflected=True)

    dot = __matmul__


class csr_matrix(spmatrix):
    format = "csr"


class coo_matrix(spmatrix):
    format = "coo"


class csc_matrix(spmatrix):
    format = "csc"


_FORMATS = {"csr": csr_matrix, "coo": coo_matrix, "csc": csc_matrix}


def issparse(x) -> bool:
    return isinstance(x, spmatrix)
