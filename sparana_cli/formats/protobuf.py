"""The protobuf wire format, as much of it as ONNX files use: varints, 64/32-bit words and length-delimited fields.

A message is encoded from (field number, value) pairs and decoded into {field number: [values]},
length-delimited values left as bytes for the caller to decode as a string, a nested message or a
packed array, since only the schema (onnx.py) knows which.
"""

from __future__ import annotations

import struct

import numpy as np

VARINT, I64, LEN, I32 = 0, 1, 2, 5


class Malformed(ValueError):
    """Bytes that are not a protobuf message."""


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # a negative int64 is its two's complement, ten bytes
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def message(*fields: tuple[int, int | str | bytes | list]) -> bytes:
    """A message from (number, value) pairs: an int is a varint, str and bytes are length-delimited, a list repeats."""
    out = bytearray()
    for number, value in fields:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int):
                out += varint(number << 3 | VARINT) + varint(item)
            else:
                raw = item.encode() if isinstance(item, str) else bytes(item)
                out += varint(number << 3 | LEN) + varint(len(raw)) + raw
    return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise Malformed("a varint runs past the end")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def decode(data: bytes) -> dict[int, list]:
    """{field number: [value, ...]}: ints for varints and fixed words, bytes for length-delimited fields."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _read_varint(data, pos)
        elif wire in (I64, I32):
            size = 8 if wire == I64 else 4
            if pos + size > len(data):
                raise Malformed("a fixed-size field runs past the end")
            value, pos = int.from_bytes(data[pos:pos + size], "little"), pos + size
        elif wire == LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise Malformed("a length-delimited field runs past the end")
            value, pos = data[pos:pos + size], pos + size
        else:
            raise Malformed(f"wire type {wire} is not one ONNX uses")
        if number == 0:
            raise Malformed("field number 0")
        fields.setdefault(number, []).append(value)
    return fields


def signed(n: int) -> int:
    """An int64 varint as the signed number it encodes."""
    return n - (1 << 64) if n >= 1 << 63 else n


def ints(values: list) -> list[int]:
    """A repeated int64 field, packed (bytes) or not (ints), as signed ints."""
    out = []
    for value in values:
        if isinstance(value, int):
            out.append(signed(value))
            continue
        pos = 0
        while pos < len(value):
            n, pos = _read_varint(value, pos)
            out.append(signed(n))
    return out


def floats(values: list, dtype: str = "<f4") -> np.ndarray:
    """A repeated float (or double, "<f8") field, packed (bytes) or not (the word as an int)."""
    size = np.dtype(dtype).itemsize
    parts = [np.frombuffer(v, dtype) if isinstance(v, (bytes, bytearray)) else
             np.frombuffer(v.to_bytes(size, "little"), dtype) for v in values]
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def single_float(value: int) -> float:
    """A 32-bit float field's word as a float."""
    return struct.unpack("<f", value.to_bytes(4, "little"))[0]
