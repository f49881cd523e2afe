"""Input rows held as stored (uint8 bytes, or the file's dtype) and turned into float32 only when read.

Indexing a Features gives float32 rows, so code written for a float array (chunked forward passes,
`x[rows]`, `x.shape`) works unchanged, while the whole split stays at its stored size: a quarter
of float32's for bytes. Training fills its input batch with fill_rows. Nothing here knows NumPy
from CuPy: `stored` and the scaling's arrays live on one device and only array methods are used.
"""

from __future__ import annotations

from sparana_cli.data.scaling import Scaling


class Features:
    """Rows `stored[index]` (all of `stored` when index is None), read as float32 through `scaling`.

    The index lets a split be a selection of a larger stored array (the training rows of a
    memory-mapped pool) without copying it.
    """

    def __init__(self, stored, scaling: Scaling, index=None):
        assert stored.ndim == 2, "features are (rows, features)"
        self.stored = stored  # (N, features) as stored
        self.scaling = scaling
        self.index = index  # (n,) rows of stored, or None: all of them

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), self.stored.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of the stored array this split reads from (shared with any other split of it)."""
        return self.stored.nbytes

    def __len__(self) -> int:
        return self.stored.shape[0] if self.index is None else self.index.shape[0]

    def __getitem__(self, rows):
        """float32 rows (a slice, an index array or a boolean mask), converted now."""
        return self.scaling.apply(self.stored[rows] if self.index is None else self.stored[self.index[rows]])

    def fill_rows(self, rows, out) -> None:
        """out[:] = self[rows]: a training batch (out may be float64; the conversion is always float32's)."""
        out[...] = self[rows]

    def on(self, put, moved: dict | None = None) -> Features:
        """The same rows moved by put (a backend's asarray): stored dtype kept, so bytes stay bytes.

        Splits that select rows of one stored array share one copy of it when given the same `moved` dict.
        """
        moved = {} if moved is None else moved
        if id(self.stored) not in moved:
            moved[id(self.stored)] = (self.stored, put(self.stored))  # (the source is kept so its id stays unique)
        stored = moved[id(self.stored)][1]
        return Features(stored, self.scaling.on(put), None if self.index is None else put(self.index))
