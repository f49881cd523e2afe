"""The IDX file format of MNIST: read with every header check, and write (for tests and converters)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError

# type code in the third magic byte -> big-endian element type
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array.

    A missing, truncated or corrupt file raises UserError naming the file and what is wrong.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise UserError(f"{path}: truncated IDX file ({len(raw)} bytes, no complete header)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES or raw[3] == 0:
        raise UserError(f"{path}: not an IDX file (bad magic number 0x{raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX file (header needs {header} bytes, found {len(raw)})")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    count = math.prod(dims)  # Python integers: a product of four 32-bit sizes cannot overflow
    expected, found = count * dtype.itemsize, len(raw) - header
    if found < expected:
        raise UserError(f"{path}: truncated IDX file (dimensions {dims} need {expected} bytes of data, found {found})")
    if found > expected:
        raise UserError(f"{path}: corrupt IDX file ({found - expected} bytes after the data its header describes)")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write an array as an IDX file; gzip-compressed when the name ends in .gz."""
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _TYPES.items()}
    dtype = np.dtype(array.dtype).newbyteorder("=")
    if dtype not in codes:
        raise ValueError(f"IDX cannot hold {array.dtype}")
    big = np.ascontiguousarray(array, dtype=np.dtype(_TYPES[codes[dtype]]))
    payload = bytes([0, 0, codes[dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + big.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"{path}: corrupt or truncated gzip data ({err})") from None
