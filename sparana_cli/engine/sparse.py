"""CSR weights: a masked matrix's live entries in compressed rows, and inference through them.

The CSR arrays of a weight matrix W (in, out) hold exactly its mask's True positions, row by row
(a live weight that happens to be 0.0 is still stored), so the mask can be rebuilt from them.
`CSRNetwork` multiplies with the backend's sparse module (scipy.sparse or cupyx.scipy.sparse).
"""

from __future__ import annotations

import numpy as np

from sparana_cli.engine.backend import backend_of, to_host
from sparana_cli.engine.losses import activate_output
from sparana_cli.engine.network import PREDICT_CHUNK, Network


def csr_parts(weights: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of the mask's True entries of a host matrix, row by row."""
    rows, cols = np.nonzero(mask)
    indptr = np.zeros(mask.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
    index_type = np.int32 if max(mask.shape) < 2**31 and rows.size < 2**31 else np.int64
    return weights[rows, cols], cols.astype(index_type), indptr.astype(index_type)


def dense_from_csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """(weights, mask) of a host CSR matrix; ValueError names what is inconsistent."""
    n_rows, n_cols = (int(v) for v in shape)
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"indptr has {indptr.shape[0] if indptr.ndim == 1 else indptr.shape} entries, expected {n_rows + 1}")
    if data.ndim != 1 or indices.ndim != 1 or data.shape != indices.shape:
        raise ValueError(f"data {data.shape} and indices {indices.shape} must be 1-D and of one length")
    if not (np.issubdtype(indices.dtype, np.integer) and np.issubdtype(indptr.dtype, np.integer)):
        raise ValueError("indices and indptr must be integers")
    if indptr[0] != 0 or indptr[-1] != data.shape[0] or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must rise from 0 to the number of stored entries")
    if indices.size and (indices.min() < 0 or indices.max() >= n_cols):
        raise ValueError(f"column indices must lie in [0, {n_cols})")
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    weights = np.zeros((n_rows, n_cols), dtype=data.dtype)
    mask = np.zeros((n_rows, n_cols), dtype=bool)
    mask[rows, indices] = True
    if np.count_nonzero(mask) != data.shape[0]:
        raise ValueError("a position is stored twice")
    weights[rows, indices] = data
    return weights, mask


class CSRNetwork:
    """Inference-only twin of a Network whose chosen layers hold their weights as CSR matrices.

    Activations travel transposed, (features, rows), so each layer is one sparse-times-dense product
    W^T @ a with W^T in CSR; the other layers stay dense.
    """

    def __init__(self, net: Network, csr_layers):
        self.backend = backend_of(net.weights[0])
        self.output, self.dtype, self.sizes = net.output, net.dtype, net.sizes
        self.csr_layers = sorted(set(csr_layers))
        sparse, put = self.backend.sparse, self.backend.asarray
        self.matrices = []  # (out, in): W^T, CSR or a dense view
        for i, (w, m) in enumerate(zip(net.weights, net.masks)):
            if i in self.csr_layers:
                data, indices, indptr = csr_parts(to_host(w).T, to_host(m).T)
                self.matrices.append(sparse.csr_matrix((put(data), put(indices), put(indptr)), shape=(w.shape[1], w.shape[0])))
            else:
                self.matrices.append(w.T)
        self.biases = [b[:, None] for b in net.biases]

    @property
    def xp(self):
        return self.backend.xp

    @property
    def n_layers(self) -> int:
        return len(self.matrices)

    def predict(self, x, chunk: int = PREDICT_CHUNK):
        """Activated outputs (n, classes) for inputs x (n, features), like Network.predict."""
        xp, last = self.xp, self.n_layers - 1
        out = xp.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        for start in range(0, x.shape[0], chunk):
            a = xp.ascontiguousarray(xp.asarray(x[start:start + chunk], dtype=self.dtype).T)  # (features, rows)
            for i, (w, b) in enumerate(zip(self.matrices, self.biases)):
                a = w @ a
                a += b
                if i < last:
                    xp.maximum(a, 0, out=a)
            out[start:start + chunk] = activate_output(a.T, self.output)
        return out
