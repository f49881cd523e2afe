"""Text that is not what it seems, and sizes a file claims: each refused in one line (exit 2, nothing written), or
handled (a CSV that starts with a byte-order mark, a server's non-numeric Content-Length)."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.data import claims, download
from sparana_cli.data.idx import read_idx, write_idx
from sparana_cli.errors import UserError
from tests.bad_inputs.test_hostile_writes import invoke, one_line
from tests.conftest import tiny_spec
from tests.test_bad_inputs import World, _snapshot, template  # noqa: F401  (template: the fixture World copies)
from tests.test_data_fetch import everything_under, home, served, tiny_mnist  # noqa: F401  (fixtures)


def refused(world: World, args: list, names: str) -> None:
    before = _snapshot(world.runs)
    result, lines = invoke(world, *args)
    one_line(result, lines, 2, names)
    assert _snapshot(world.runs) == before


@pytest.mark.parametrize("args, names", [
    (lambda w: ["train", w.spec, "name=a\udcffb"], r"argument 3 (name=a\xffb) is not valid UTF-8"),
    (lambda w: ["train", str(w.spec) + "\udcff"], "is not valid UTF-8"),
    (lambda w: ["runs", "show", w.finished.name + "\udcfe"], "is not valid UTF-8"),
    (lambda w: ["train", w.spec, "data.path=~nosuchuser29/data"], "~nosuchuser29 is not a known user's home folder"),
    (lambda w: ["train", w.spec, "data.format=csv", "data.path=~nosuchuser29/cells.csv"], "data.path ~nosuchuser29"),
    (lambda w: ["train", w.write("f.yaml", "seed: !!float 1e-3x\n")], "f.yaml: not valid YAML"),
    (lambda w: ["train", w.spec, "train.lr=!!float 1e-3x"], "not valid YAML"),
    (lambda w: ["train", w.spec, "seed=!!int 12x"], "not valid YAML"),
])
def test_text_that_is_not_what_it_seems_is_refused(template, tmp_path, args, names):  # noqa: F811
    world = World(tmp_path, template)
    refused(world, args(world), names)


def test_a_runs_folder_whose_path_is_not_utf8_is_refused(template, tmp_path, monkeypatch):  # noqa: F811
    world = World(tmp_path, template)
    result = CliRunner().invoke(main, ["train", str(world.spec), "--runs-dir", str(tmp_path / "r\udcff")])
    assert result.exit_code == 2 and "is not valid UTF-8" in result.stderr and "Traceback" not in result.output
    monkeypatch.setenv("SPARANA_RUNS", str(tmp_path / "r\udcff"))
    result = CliRunner().invoke(main, ["prune", "--sparsity", "0.5"])
    assert result.exit_code == 2 and result.stderr.startswith("error: SPARANA_RUNS ") and "not valid UTF-8" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data", "runs", "good.yaml"])


@pytest.mark.parametrize("command", [["data", "list"], ["data", "fetch", "kmnist"], ["train", "{spec}", "data.path=null"]])
def test_sparana_data_naming_a_file_is_refused(template, tmp_path, monkeypatch, command):  # noqa: F811
    world = World(tmp_path, template)
    monkeypatch.setenv("SPARANA_DATA", str(world.spec))
    refused(world, [str(world.spec) if a == "{spec}" else a for a in command], f"SPARANA_DATA {world.spec}: not a folder")


@pytest.mark.parametrize("option, env, names", [
    (["--mirror", "example.org/sets"], None, "--mirror example.org/sets: not a URL"),
    ([], "ftp://example.org/sets", "SPARANA_DATA_MIRROR ftp://example.org/sets: not a URL"),
    (["--mirror", "http:///sets"], None, "not a URL"),
    (["--mirror", "http://[::1"], None, "--mirror http://[::1: not a URL"),  # urlsplit raised ValueError: a traceback
    (["--mirror", "http://example.org:eighty/sets"], None, "not a URL"),
    ([], "https://[fe80::1/sets", "SPARANA_DATA_MIRROR https://[fe80::1/sets: not a URL"),
])
def test_a_mirror_that_is_no_url_is_refused_before_anything_is_written(home, monkeypatch, option, env, names):  # noqa: F811
    if env:
        monkeypatch.setenv("SPARANA_DATA_MIRROR", env)
    result = CliRunner().invoke(main, ["data", "fetch", "kmnist", *option])
    assert result.exit_code == 2 and names in result.stderr and "Traceback" not in result.output, result.output
    assert everything_under(home) == []


class _Response:
    """What urlopen returns, with a Content-Length that is not a number."""

    def __init__(self, body: bytes):
        self.status, self.headers, self._body = 200, {"Content-Length": "lots"}, [body]

    def read(self, n: int) -> bytes:
        return self._body.pop() if self._body else b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_non_numeric_content_length_is_treated_as_unknown(tmp_path, monkeypatch):
    import hashlib

    body = b"the published bytes"
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda request, timeout: _Response(body))
    download.download("http://example.org/f.gz", tmp_path / "f.gz", hashlib.md5(body).hexdigest())
    assert (tmp_path / "f.gz").read_bytes() == body and sorted(p.name for p in tmp_path.iterdir()) == ["f.gz"]


# -- CSV: a byte-order mark, and NaN rows counted in the file -----------------------------------------------------


def _csv_world(world: World, text: str, **data) -> str:
    path = world.base / "cells.csv"
    path.write_bytes(text.encode("utf-8-sig") if data.pop("bom", False) else text.encode())
    return str(world.write("cells.yaml", yaml.safe_dump(tiny_spec(path, data={"name": "cells", "format": "csv",
                                                                             "path": str(path), **data}))))


def _cells(n: int, nan_at: int | None = None) -> str:
    rows = [f"{i % 3},{i},{(i * 7) % 11}" for i in range(n)]
    if nan_at is not None:
        rows[nan_at] = f"{nan_at % 3},nan,1"
    return "label,a,b\n" + "\n".join(rows) + "\n"


def test_a_csv_that_starts_with_a_byte_order_mark_finds_its_label_column(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    result, _ = invoke(world, "train", _csv_world(world, _cells(60), bom=True), "train.epochs=1")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("nan_at", [3, 40])
def test_a_nan_in_a_csv_is_named_by_its_line_in_the_file(template, tmp_path, nan_at):  # noqa: F811
    world = World(tmp_path, template)
    refused(world, ["train", _csv_world(world, _cells(60, nan_at))], f"cells.csv: line {nan_at + 2}: NaN")


# -- sizes claimed: against the memory, and a gzip stream inflated no further than its header claims ------------


def test_an_idx_file_larger_than_the_free_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((50, 6, 6), np.uint8))
    monkeypatch.setattr(claims, "host_free_memory", lambda: 1000)
    with pytest.raises(UserError, match=r"needs about 1.8 kB, more than the 1.0 kB of memory available"):
        read_idx(path)


def test_a_gzip_idx_bomb_is_never_inflated_whole(tmp_path):
    payload = bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(range(10)) + bytes(64 << 20)
    path = tmp_path / "bomb.idx1-ubyte.gz"
    path.write_bytes(gzip.compress(payload, 1, mtime=0))
    tracemalloc.start()
    try:
        with pytest.raises(UserError, match="bytes after the data its header describes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes were held to read 10 labels"


def test_a_held_out_test_label_no_training_row_has_is_named_by_its_line_in_the_file(template, tmp_path):  # noqa: F811
    """Like a NaN: the label's place was its row among the held-out test rows ('row 2'), a number in no file."""
    from sparana_cli.data.csv_file import _HOLDOUT_SEED

    world = World(tmp_path, template)
    held = int(np.sort(np.random.default_rng(_HOLDOUT_SEED).permutation(60)[:12])[-1])  # test_fraction 0.2 of 60 rows
    text = _cells(60).splitlines()
    text[held + 1] = "1000000000000,1,2"
    refused(world, ["train", _csv_world(world, "\n".join(text) + "\n", test_fraction=0.2)],
            f"cells.csv: line {held + 2}: label 1000000000000 (held out for testing) is not a class of the training rows")


def test_a_test_files_label_no_training_row_has_is_named_by_its_line(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    test = world.base / "cells-test.csv"
    test.write_text("label,a,b\n0,1,2\n\n1,2,3\n7,3,4\n")
    refused(world, ["train", _csv_world(world, _cells(60), test_path=str(test))],
            "cells-test.csv: line 5: label 7 is not a class of the training rows (their labels are 0..2)")
