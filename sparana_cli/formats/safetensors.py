"""The safetensors format with NumPy: 8-byte little-endian header length, a JSON header, then raw little-endian bytes.

The header maps each tensor's name to {dtype, shape, data_offsets: [begin, end)} (offsets into the
bytes after the header) and may hold "__metadata__", a {str: str} mapping. Written here in the
order the tensors are given, 8-byte aligned as the reference writer does; read with every offset,
size and dtype checked, so a damaged file is one line naming it and the tensor.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError
from sparana_cli.formats.mlp import shown

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1",
          "BOOL": "?"}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100_000_000  # the reference reader's limit
PICKLE_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save: a zip of pickles, or a bare pickle


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write `tensors` (C-ordered, little-endian) and the string `metadata` to an open-for-writing `path`."""
    header: dict = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array, dtype=np.dtype(array.dtype).newbyteorder("<"))
        blob = array.tobytes()
        header[name] = {"dtype": NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data start 8-byte aligned
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for blob in blobs:
            handle.write(blob)


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(name -> array, metadata) of a safetensors file; F16 and BF16 tensors come back as float32."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8]) if len(data) >= 8 else (0,)
    if not 2 <= length <= min(MAX_HEADER, len(data) - 8):
        raise _not_safetensors(path, data, f"header length {length} does not fit a {len(data)}-byte file")
    try:
        header = json.loads(data[8:8 + length])
    except ValueError:
        raise _not_safetensors(path, data, "its header is not JSON") from None
    if not isinstance(header, dict):
        raise _not_safetensors(path, data, "its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise UserError(f"{path}: __metadata__ must map names to strings")
    body = memoryview(data)[8 + length:]
    return {name: _tensor(body, name, entry, path) for name, entry in header.items()}, metadata


def _not_safetensors(path: Path, data: bytes, why: str) -> UserError:
    """Why `data` is not safetensors; a pickle is named as one (checked only now: a valid header may start with 0x80)."""
    if data.startswith(PICKLE_MAGIC):
        return UserError(f"{path}: a pickle (PyTorch's torch.save format); it is never loaded. Save the weights with "
                         "safetensors.torch.save_file(model.state_dict(), 'model.safetensors') instead")
    return UserError(f"{path}: not a safetensors file ({why})")


def _tensor(body: memoryview, name: str, entry, path: Path) -> np.ndarray:
    where = f"{path}: tensor {shown(name)}"
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise UserError(f"{where}: needs dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in (*DTYPES, "BF16"):
        raise UserError(f"{where}: dtype {dtype!r:.20} is not one of {', '.join([*DTYPES, 'BF16'])}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise UserError(f"{where}: shape must be a list of sizes, found {shape!r:.40}")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(isinstance(n, int) for n in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= len(body)):
        raise UserError(f"{where}: data_offsets {offsets!r:.40} lie outside the file's {len(body)} data bytes")
    raw = body[offsets[0]:offsets[1]]
    item = 2 if dtype == "BF16" else np.dtype(DTYPES[dtype]).itemsize
    if len(raw) != item * int(np.prod(shape, dtype=np.int64)):
        raise UserError(f"{where}: {len(raw)} bytes do not hold a {dtype} tensor of shape {tuple(shape)}")
    if dtype == "BF16":  # the upper half of a float32
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    array = np.frombuffer(raw, DTYPES[dtype]).reshape(shape)
    return array.astype(np.float32) if dtype == "F16" else array.astype(array.dtype.newbyteorder("="))
