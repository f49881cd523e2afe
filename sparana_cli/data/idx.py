"""The IDX file format of MNIST: read with every header check, and write (for tests and converters)."""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from sparana_cli.data.claims import check_claim
from sparana_cli.errors import UserError

# type code in the third magic byte -> big-endian element type
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array.

    The header is read first and its dimensions checked against the file's bytes and the free memory;
    gzip data are then inflated as a stream, never past what the header claims. A missing, truncated or
    corrupt file raises UserError naming the file and what is wrong.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            gz = handle.read(2) == _GZIP_MAGIC
            handle.seek(0)
            if not gz:
                return _read_stream(handle, path, size, compressed=False)
            try:
                with gzip.GzipFile(fileobj=handle) as stream:
                    return _read_stream(stream, path, size, compressed=True)
            except (OSError, EOFError, zlib.error) as err:
                raise UserError(f"{path}: corrupt or truncated gzip data ({err})") from None
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not an IDX file") from None
    except PermissionError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None


def _read_stream(stream: IO[bytes], path: Path, size: int, *, compressed: bool) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4:
        raise UserError(f"{path}: truncated IDX file ({len(magic)} bytes, no complete header)")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES or magic[3] == 0:
        raise UserError(f"{path}: not an IDX file (bad magic number 0x{magic.hex()})")
    ndim = magic[3]
    header = 4 + 4 * ndim
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise UserError(f"{path}: truncated IDX file (header needs {header} bytes, found {4 + len(raw_dims)})")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = np.dtype(_TYPES[magic[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python integers: a product of 32-bit sizes cannot overflow
    check_claim(str(path), dims, dtype, size if compressed else size - header, compressed=compressed)
    data = stream.read(expected)
    if len(data) < expected:
        raise UserError(f"{path}: truncated IDX file (dimensions {dims} need {expected} bytes of data, found {len(data)})")
    extra = len(stream.read(1 << 16))
    if extra:
        raise UserError(f"{path}: corrupt IDX file ({extra}{'+' if extra == 1 << 16 else ''} bytes after the data its "
                        "header describes)")
    return np.frombuffer(data, dtype=dtype).reshape(dims).astype(dtype.newbyteorder("="))


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
