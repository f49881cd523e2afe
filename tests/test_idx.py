import gzip

import numpy as np
import pytest

from sparana_cli.data.idx import read_idx, write_idx
from sparana_cli.errors import UserError


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_round_trip(tmp_path, name, dtype):
    data = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    if dtype == np.uint8:
        data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, data)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == data.shape
    np.testing.assert_array_equal(back, data)


def test_reads_the_mnist_header_exactly(tmp_path):
    # hand-made file: magic 0x00000803, dims 2x2x2, eight pixels
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(range(8))
    (tmp_path / "f").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), np.arange(8, dtype=np.uint8).reshape(2, 2, 2))


def _err(path):
    with pytest.raises(UserError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_truncated_data(tmp_path):
    write_idx(tmp_path / "f", np.zeros((10, 4, 4), np.uint8))
    raw = (tmp_path / "f").read_bytes()
    (tmp_path / "f").write_bytes(raw[:-7])
    assert "truncated" in _err(tmp_path / "f")


def test_truncated_header(tmp_path):
    (tmp_path / "f").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    assert "truncated" in _err(tmp_path / "f")


def test_truncated_gzip(tmp_path):
    write_idx(tmp_path / "f.gz", np.zeros((100, 4, 4), np.uint8))
    raw = (tmp_path / "f.gz").read_bytes()
    (tmp_path / "f.gz").write_bytes(raw[: len(raw) // 2])
    assert "gzip" in _err(tmp_path / "f.gz")


def test_corrupt_gzip(tmp_path):
    payload = bytearray(gzip.compress(bytes(range(256)) * 10))
    payload[20:40] = b"\xff" * 20
    (tmp_path / "f.gz").write_bytes(bytes(payload))
    assert "gzip" in _err(tmp_path / "f.gz")


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00", b"PK\x03\x04"])
def test_bad_magic(tmp_path, magic):
    (tmp_path / "f").write_bytes(magic + b"\x00\x00\x00\x01" + b"\x00")
    assert "not an IDX file" in _err(tmp_path / "f")


def test_trailing_bytes(tmp_path):
    write_idx(tmp_path / "f", np.zeros((3,), np.uint8))
    (tmp_path / "f").write_bytes((tmp_path / "f").read_bytes() + b"extra")
    assert "corrupt" in _err(tmp_path / "f")


def test_missing_file(tmp_path):
    assert "not found" in _err(tmp_path / "nope")
