"""Which format a model file is in, and reading or writing one: safetensors, ONNX or NPZ; a pickle is refused unread."""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.formats.mlp import Mlp, mlp_from_tensors, sequential_tensors
from sparana_cli.formats.onnx import onnx_model, read_onnx
from sparana_cli.formats.safetensors import PICKLE_MAGIC, read_safetensors, write_safetensors

FORMATS = {"safetensors": ".safetensors", "onnx": ".onnx", "npz": ".npz"}
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib")
NPZ_METADATA = "__metadata__"  # the NPZ entry holding the metadata, a JSON string (a unicode array: no pickle)
SPARANA_FORMAT = "sparana-mlp"  # metadata "format" of Sparana's own exports


def write_model(path: Path, kind: str, weights: list[np.ndarray], biases: list[np.ndarray], output: str,
                metadata: dict[str, str], input_doc: str) -> None:
    """Write the MLP (weights (in, out)) to `path` in format `kind` (a key of FORMATS)."""
    if kind == "onnx":
        Path(path).write_bytes(onnx_model(weights, biases, output, metadata, input_doc))
    elif kind == "safetensors":
        write_safetensors(path, sequential_tensors(weights, biases), metadata)
    else:
        with open(path, "wb") as handle:  # np.savez would append .npz to a name without it
            np.savez(handle, **sequential_tensors(weights, biases), **{NPZ_METADATA: np.asarray(json.dumps(metadata))})


def model_format(path: Path) -> str:
    """safetensors, onnx or npz, by the file's suffix, else by its first bytes; a pickle is a UserError."""
    path = Path(path)
    suffix = path.suffix.lower()
    unknown = suffix not in FORMATS.values()
    if suffix in PICKLE_SUFFIXES or _is_pickle_zip(path) or (unknown and _head(path, 1) == PICKLE_MAGIC[1]):
        raise UserError(f"{path}: a pickle-based file (PyTorch's torch.save and the like); it is never loaded. Save the "
                        "weights with safetensors.torch.save_file(model.state_dict(), 'model.safetensors') instead")
    for kind, ending in FORMATS.items():
        if suffix == ending:
            return kind
    head = _head(path, 9)
    if head.startswith(b"PK"):
        return "npz"
    if head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x08":  # field 1 (ir_version), a varint: how every ONNX model starts
        return "onnx"
    raise UserError(f"{path}: not a safetensors, ONNX or NPZ file (name it .safetensors, .onnx or .npz)")


def _head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(n)
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None


def _is_pickle_zip(path: Path) -> bool:
    """A zip holding a pickle (torch.save's format since PyTorch 1.6), checked by its member names only."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith((".pkl", "/data.pkl")) for name in archive.namelist())
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile):
        return False  # not a zip this module can read: the format's own reader says why


def read_model(path: Path) -> tuple[Mlp, str]:
    """The MLP a model file holds and its format; any other content is a UserError naming the file and tensor or node."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    kind = model_format(path)
    if kind == "onnx":
        mlp = read_onnx(path)
    else:
        tensors, metadata = read_safetensors(path) if kind == "safetensors" else _read_npz(path)
        mlp = mlp_from_tensors(tensors, path)
        mlp.metadata = metadata
    if mlp.metadata.get("format") == SPARANA_FORMAT:
        output = mlp.metadata.get("output_activation")
        if output not in ("linear", "softmax"):
            raise UserError(f"{path}: metadata output_activation must be linear or softmax, found {output!r:.40}")
        if mlp.output not in (None, output):
            raise UserError(f"{path}: its metadata says output {output}, but its graph computes {mlp.output}")
        mlp.output = output
    return mlp, kind


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from sparana_cli.data.npz_file import check_header

    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in archive.files:  # each header's shape against its bytes and the memory, before allocating
                check_header(archive.zip, name, path)
            tensors = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile, zlib.error) as err:
        why = (str(err).splitlines() or [type(err).__name__])[0]
        raise UserError(f"{path}: not a readable NPZ file without pickles ({why})") from None
    text = tensors.pop(NPZ_METADATA, None)
    try:
        metadata = json.loads(str(text)) if text is not None else {}
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise UserError(f"{path}: entry {NPZ_METADATA} must be a JSON object of strings")
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
