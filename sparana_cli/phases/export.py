"""`sparana export`: a run's network as its run holds it, written to safetensors, ONNX or NPZ with its metadata.

Masks are applied (a pruned weight is an exact zero), a shrunk network is written at its shrunk
size, and a layer the run stores as CSR is written dense (the metadata says which). The run
folder is only read.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np

from sparana_cli import __version__
from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.files import atomic_path
from sparana_cli.formats.files import FORMATS, SPARANA_FORMAT, sha256, write_model
from sparana_cli.spec import Spec
from sparana_cli.store import provenance, runs
from sparana_cli.ui import Console

LAYOUTS = {
    "safetensors": "nn.Sequential(Linear, ReLU, ..., Linear) state dict: <2i>.weight (out, in), <2i>.bias (out,)",
    "npz": "nn.Sequential(Linear, ReLU, ..., Linear) state dict: <2i>.weight (out, in), <2i>.bias (out,)",
    "onnx": "input -> Gemm(x, <2i>.weight (out, in), <2i>.bias, transB=1) -> Relu -> ... -> Gemm [-> Softmax] -> output",
}
SCALING = {"none": "as stored", "unit": "x/255 for uint8 pixels, else min-max to [0, 1] from the training split",
           "standard": "(x - mean) / std per feature, from the training split"}


def default_path(run_dir: Path, kind: str) -> Path:
    """./<run name>.<format suffix>: beside the caller, never inside the run folder, which is not changed."""
    return Path(run_dir.name + FORMATS[kind])


def export(run_dir: Path, kind: str, out: Path | None, *, console: Console) -> dict:
    """Write the run's network to `out` (default: default_path) in format `kind`; return the summary."""
    run_dir = Path(run_dir).resolve()
    spec = runs.load_run_spec(run_dir)
    net, attrs = runs.load_model(run_dir)
    formats = runs.layer_formats(run_dir)
    out = Path(out) if out is not None else default_path(run_dir, kind)
    if out.is_dir():
        raise UserError(f"--out {out}: a folder; give a file name, e.g. {out / default_path(run_dir, kind)}")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: no folder {out.parent}")
    metadata = export_metadata(run_dir, spec, net, attrs, formats, kind)
    csr = [i for i, f in enumerate(formats) if f == "csr"]
    if csr:
        console.warn(f"note: layer{'s' * (len(csr) > 1)} {', '.join(map(str, csr))} {'are' if len(csr) > 1 else 'is'} "
                     f"stored as CSR in {run_dir.name}; written dense (pruned weights as zeros)")
    with atomic_path(out) as part:
        write_model(part, kind, net.weights, net.biases, net.output, metadata, input_doc(spec, net))
    return {"run": str(run_dir), "file": str(out), "format": kind, "bytes": out.stat().st_size, "sha256": sha256(out),
            "layer_sizes": net.sizes, "output": net.output, "loss": spec.model.loss, "csr_written_dense": csr,
            "nonzero": [int(np.count_nonzero(w)) for w in net.weights], "metadata": metadata}


def live_zeros(net: Network) -> list[list[int]]:
    """Per layer, the flat indices into the written <2i>.weight (out, in) of weights that are not pruned but exactly
    zero (a forgetting refit writes some): import reads every other zero as pruned, these as live."""
    return [np.flatnonzero((np.asarray(m) & (np.asarray(w) == 0)).T).tolist() for w, m in zip(net.weights, net.masks)]


def input_doc(spec: Spec, net: Network) -> str:
    return (f"a batch of flattened images or feature rows, shape (batch, {net.sizes[0]}), {net.dtype}, scaled as the "
            f"run's data.normalize={spec.data.normalize} says: {SCALING[spec.data.normalize]}")


def export_metadata(run_dir: Path, spec: Spec, net: Network, attrs: dict, formats: list[str], kind: str) -> dict:
    """What a reader needs beside the weights, as strings (every format's metadata is a string mapping)."""
    csr = [i for i, f in enumerate(formats) if f == "csr"]
    record = provenance.read(run_dir)
    return {
        "format": SPARANA_FORMAT,
        "format_version": "1",
        "layout": LAYOUTS[kind],
        "layer_sizes": json.dumps(net.sizes),
        "hidden_activation": "relu",
        "output_activation": net.output,
        "loss": spec.model.loss,
        "input": input_doc(spec, net),
        "masks": "applied: every pruned weight is an exact zero (no separate mask tensors); sparana import reads "
                 "every zero weight of a sparana-mlp file as pruned, except those live_zero_weights lists",
        "nonzero_weights": json.dumps([int(np.count_nonzero(w)) for w in net.weights]),
        "live_zero_weights": json.dumps(live_zeros(net)),
        "stored_as": json.dumps(formats),
        "written_dense": (f"layers {json.dumps(csr)} are CSR in the run, written dense here" if csr else "none"),
        "run": run_dir.name,
        "run_path": str(run_dir),
        "phase": str(attrs.get("phase", "")),
        "parent": str(attrs.get("parent", "")),
        "dataset": str(attrs.get("dataset", spec.data.name)),
        "dataset_checksum": str(attrs.get("dataset_checksum", "")),
        "seed": str(spec.seed),
        "created": str(attrs.get("created", "")),
        "sparana_version": str(attrs.get("sparana_version", "")),
        "provenance": json.dumps(record) if record is not None else "",
        "exported": datetime.now().isoformat(timespec="seconds"),
        "exported_by": f"sparana {__version__}",
    }
