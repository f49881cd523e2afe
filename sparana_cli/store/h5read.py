"""Reading a run's HDF5 files: open_h5 (damage is a UserError naming the file), model.h5's attributes and layout,
metrics.h5. record.read_run reads a finished run with these; runs.py re-exports them for every other reader."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

from sparana_cli.data.claims import read_dataset
from sparana_cli.errors import UserError
from sparana_cli.hdf5_links import check_self_contained, visit_items
from sparana_cli.store import layout
from sparana_cli.store.names import METRICS_FILE, MODEL_FILE


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[h5py.File]:
    """An HDF5 file open for reading; missing, unreadable or damaged content is a UserError naming it."""
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file ({str(err).splitlines()[0]})") from None
    try:
        check_self_contained(f, path)
        yield f
    except (KeyError, OSError, ValueError, TypeError) as err:
        raise UserError(f"{path}: damaged or incomplete ({str(err).splitlines()[0]})") from None
    finally:
        f.close()


def read_model_attrs(run_dir: Path) -> dict:
    """model.h5's root attributes (provenance), without reading the weights."""
    path = Path(run_dir) / MODEL_FILE
    with open_h5(path) as f:
        return _model_attrs(f, path)


def _model_attrs(f: h5py.File, path: Path) -> dict:
    """An open model.h5's root attributes as plain values, checked against the documented layout."""
    return layout.check_model_attrs({k: layout.plain(v) for k, v in f.attrs.items()}, path)


def model_layout(run_dir: Path) -> tuple[list[str], float]:
    """Each layer's storage ("dense" or "csr") and the fraction of weights masked out, over all layers.

    Reads only the masks (dense layers) and the row pointers (CSR layers, whose stored entries are the mask's).
    """
    path = Path(run_dir) / MODEL_FILE
    formats, total, kept = [], 0, 0
    with open_h5(path) as f:
        if "layers" not in f or not len(f["layers"]):
            raise UserError(f"{path}: no /layers group")
        layout.check_layer_count(f, path)
        for i in range(len(f["layers"])):
            g = f["layers"][str(i)]
            if "csr" in g:
                shape = np.asarray(g["csr"].attrs.get("shape", ()))
                if shape.shape != (2,) or "indptr" not in g["csr"]:
                    raise UserError(f"{path}: /layers/{i}/csr needs indptr and a shape attribute")
                indptr = g["csr"]["indptr"]
                formats.append("csr")
                total += int(shape[0]) * int(shape[1])
                kept += int(indptr[-1]) if len(indptr) else 0
            else:
                formats.append("dense")
                if "mask" not in g:
                    raise UserError(f"{path}: missing /layers/{i}/mask")
                mask = g["mask"]
                layout.check_mask_dtype(mask.dtype, f"{path}: /layers/{i}/mask")
                live = layout.plain(g.attrs.get("live"))  # absent in runs written before it was kept: count the mask
                if live is not None and (isinstance(live, bool) or not isinstance(live, int) or not 0 <= live <= mask.size):
                    raise UserError(f"{path}: /layers/{i} attribute live must be a count of weights, found {live!r:.40}")
                total, kept = total + mask.size, kept + int(live if live is not None else np.count_nonzero(mask[()]))
    return formats, (1 - kept / total if total else 0.0)


def read_metrics(run_dir: Path) -> tuple[dict, dict]:
    """(arrays, attrs) of metrics.h5: arrays[group][name] as NumPy, attrs[group] as plain values.

    Nested groups are keyed by their path ("forget/compare").
    """
    arrays, attrs = {}, {}
    path = Path(run_dir) / METRICS_FILE

    def visit(name, g):
        if isinstance(g, h5py.Group):
            arrays[name] = {key: read_dataset(d, f"{path}: /{name}/{key}") for key, d in g.items()
                            if isinstance(d, h5py.Dataset)}
            attrs[name] = {k: layout.plain(v) for k, v in g.attrs.items()}

    with open_h5(path) as f:
        visit_items(f, visit)
    layout.check_metrics(arrays, attrs, path)
    return arrays, attrs
