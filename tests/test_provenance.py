"""provenance.json read and written directly (store/provenance.py): what a run records about how it was made, and
how a hand-edited or foreign record is read back."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from sparana_cli import __version__
from sparana_cli.store import provenance


@pytest.fixture
def no_command():
    """This process has not told provenance its command line (the CLI does); restored afterwards."""
    saved = list(provenance._COMMAND)
    provenance._COMMAND.clear()
    yield
    provenance._COMMAND[:] = saved


@pytest.fixture
def fresh_caches():
    """versions() and git_state() read again, under whatever the test patches, and again after it."""
    provenance.versions.cache_clear()
    provenance.git_state.cache_clear()
    yield
    provenance.versions.cache_clear()
    provenance.git_state.cache_clear()


def _seconds(text: str) -> datetime:
    """A time as provenance writes it: ISO 8601 to the second."""
    assert len(text) == len("2024-01-31T12:34:56"), text
    return datetime.fromisoformat(text)


# -- what a run records -----------------------------------------------------------------------------


def test_now_is_local_time_to_the_second():
    before = datetime.now().replace(microsecond=0)
    stamp = _seconds(provenance.now())
    assert before <= stamp <= datetime.now()


def test_collect_records_the_command_line_the_cli_gave(no_command, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/python", "-c", "ignored"])
    provenance.record_command(["sparana", "prune", "--method", Path("maav"), 3])
    assert provenance.collect()["argv"] == ["sparana", "prune", "--method", "maav", "3"]


def test_collect_falls_back_on_sys_argv_with_the_program_name_only(no_command, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/sparana", "train", "configs/mnist.yaml"])
    assert provenance.collect()["argv"] == ["sparana", "train", "configs/mnist.yaml"]


def test_collect_says_where_when_and_by_whom(no_command, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARANA_SWEEP", raising=False)
    record = provenance.collect()
    assert record["cwd"] == str(tmp_path)
    assert record["sparana_version"] == __version__
    assert record["git"] == provenance.git_state()
    assert {k: record[k] for k in provenance.versions()} == provenance.versions()
    assert (record["host"], record["pid"]) == (socket.gethostname(), os.getpid())
    assert record["platform"] == platform.platform()
    assert abs((datetime.now() - _seconds(record["started"])).total_seconds()) < 5
    assert record["ended"] is None and record["device"] is None  # filled in by finish()
    assert record["sweep"] is None
    assert provenance.well_formed(record) is record  # what collect writes reads back whole


def test_collect_names_the_sweep_that_started_the_run(no_command, monkeypatch):
    monkeypatch.setenv("SPARANA_SWEEP", "tiny-sweep-20240101-120000")
    assert provenance.collect()["sweep"] == "tiny-sweep-20240101-120000"
    monkeypatch.setenv("SPARANA_SWEEP", "")
    assert provenance.collect()["sweep"] is None  # set but empty: no sweep


# -- versions ----------------------------------------------------------------------------------------


def test_versions_come_from_the_installed_packages(fresh_caches):
    found = provenance.versions()
    assert set(found) == {"python", "numpy", "numba", "h5py", "scipy", "cupy"}
    assert found["python"] == platform.python_version()
    assert found["numpy"] == np.__version__
    assert found["h5py"] == metadata.version("h5py") and found["numba"] == metadata.version("numba")


def test_version_of_a_distribution_that_is_not_installed_is_none():
    assert provenance._version("numpy") == np.__version__
    assert provenance._version("sparana-no-such-distribution") is None


def test_cupy_version_is_the_first_cupy_build_installed(fresh_caches, monkeypatch):
    installed = {"numpy": "1.26.4", "scipy": "1.11.4", "cupy-cuda11x": "11.6.0", "cupy": "9.0.0"}
    monkeypatch.setattr(provenance, "_version", installed.get)
    found = provenance.versions()
    assert (found["numpy"], found["scipy"], found["cupy"]) == ("1.26.4", "1.11.4", "11.6.0")
    assert found["numba"] is None and found["h5py"] is None
    provenance.versions.cache_clear()
    installed["cupy-cuda12x"] = "13.1.0"
    assert provenance.versions()["cupy"] == "13.1.0"
    provenance.versions.cache_clear()
    installed.update({"cupy-cuda12x": None, "cupy-cuda11x": None})
    assert provenance.versions()["cupy"] == "9.0.0"
    provenance.versions.cache_clear()
    del installed["cupy"]
    assert provenance.versions()["cupy"] is None


def test_versions_are_read_once_per_process(fresh_caches, monkeypatch):
    asked = []
    monkeypatch.setattr(provenance, "_version", lambda dist: asked.append(dist) or "1.0")
    assert provenance.versions() is provenance.versions()
    assert asked == ["numpy", "numba", "h5py", "scipy", "cupy-cuda12x"]  # the first cupy build found ends the search


# -- git ---------------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def _running_from(monkeypatch, source: Path) -> None:
    """provenance.py as if it lay in the package inside `source` (the folder holding sparana_cli/)."""
    monkeypatch.setattr(provenance, "__file__", str(source / "sparana_cli" / "store" / "provenance.py"))


@pytest.fixture
def checkout(tmp_path, monkeypatch, fresh_caches):
    """A git repository with one commit; sparana runs from a folder inside it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))  # no user's git configuration
    _git(repo, "init", "-q")
    (repo / "tracked.txt").write_text("one\n")
    _git(repo, "add", "tracked.txt")
    _git(repo, "commit", "-q", "-m", "first")
    (repo / "src").mkdir()
    _running_from(monkeypatch, repo / "src")
    return repo


def test_git_state_of_a_clean_checkout_found_above_the_package(checkout):
    assert provenance.git_state() == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": False}


def test_git_state_is_dirty_when_a_tracked_file_changed(checkout):
    (checkout / "tracked.txt").write_text("two\n")
    assert provenance.git_state() == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": True}


def test_untracked_files_do_not_make_the_checkout_dirty(checkout):
    (checkout / "notes.txt").write_text("scratch\n")
    assert provenance.git_state()["dirty"] is False


def test_git_state_is_read_once_per_process(checkout):
    first = provenance.git_state()
    (checkout / "tracked.txt").write_text("two\n")
    assert provenance.git_state() is first


def test_git_state_of_an_installed_package_is_none(tmp_path, monkeypatch, fresh_caches):
    _running_from(monkeypatch, tmp_path / "site-packages")
    assert provenance.git_state() is None


def test_git_state_of_a_repository_without_a_commit_is_none(tmp_path, monkeypatch, fresh_caches):
    _git(tmp_path, "init", "-q")
    _running_from(monkeypatch, tmp_path)
    assert provenance.git_state() is None


def _fake_git(tmp_path: Path, monkeypatch, script: str) -> None:
    """`git` on PATH is this shell script (and nothing else is)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").write_text("#!/bin/sh\n" + script)
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize("script", ['case "$3" in rev-parse) echo abc123;; *) exit 128;; esac\n',  # status fails
                                    f"exec {shutil.which('sleep')} 30\n"],  # git hangs: given up after the timeout
                         ids=["status fails", "git hangs"])
def test_git_state_is_none_when_git_fails(tmp_path, monkeypatch, fresh_caches, script):
    (tmp_path / ".git").mkdir()
    _running_from(monkeypatch, tmp_path)
    _fake_git(tmp_path, monkeypatch, script)
    run = subprocess.run  # the timeout made short, for this test's sake
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: run(*a, **{**k, "timeout": min(k["timeout"], 0.5)}))
    assert provenance.git_state() is None


def test_git_state_reads_what_git_says(tmp_path, monkeypatch, fresh_caches):
    (tmp_path / ".git").mkdir()
    _running_from(monkeypatch, tmp_path)
    _fake_git(tmp_path, monkeypatch, 'case "$3" in rev-parse) echo " abc123 ";; status) echo " M a.py";; esac\n')
    assert provenance.git_state() == {"commit": "abc123", "dirty": True}


def test_git_state_without_git_installed_is_none(tmp_path, monkeypatch, fresh_caches):
    (tmp_path / ".git").mkdir()
    _running_from(monkeypatch, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert provenance.git_state() is None


# -- writing and reading -------------------------------------------------------------------------------


def test_write_then_read_gives_the_record_back(tmp_path):
    record = {"argv": ["sparana", "train"], "git": {"commit": "abc", "dirty": False}, "pid": 12, "ended": None}
    provenance.write(tmp_path, record)
    text = (tmp_path / "provenance.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "argv": [\n    "sparana",') and text.endswith("}\n")  # indented, one final newline
    assert provenance.read(tmp_path) == record


def test_read_of_a_folder_without_provenance_is_none(tmp_path):
    assert provenance.read(tmp_path) is None


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe{}", b"[1, 2]", b'"text"', b"null"])
def test_read_of_a_file_that_is_no_json_object_is_none(tmp_path, data):
    (tmp_path / "provenance.json").write_bytes(data)
    assert provenance.read(tmp_path) is None


def test_read_takes_utf8_text(tmp_path):
    (tmp_path / "provenance.json").write_bytes('{"host": "r\u00e9seau-\u00fc"}'.encode("utf-8"))
    assert provenance.read(tmp_path) == {"host": "r\u00e9seau-\u00fc"}


def test_read_names_the_fields_of_the_wrong_shape(tmp_path):
    (tmp_path / "provenance.json").write_text(json.dumps({"argv": "sparana train x", "host": "h", "pid": "many"}))
    assert provenance.read(tmp_path) == {"host": "h", "damaged": ["argv", "pid"]}


# -- shapes ------------------------------------------------------------------------------------------

SESSION = {"argv": ["sparana", "train", "--resume", "r"], "host": "h", "pid": 7, "started": "2024-01-01T00:00:00",
           "git": None}

GOOD = {
    "argv": [[], ["sparana", "train"]],
    "git": [None, {"commit": "abc"}, {"commit": "abc", "dirty": True}],
    "pid": [None, 0, 4242],
    "data": [None, {}, {"name": "mnist", "source": "idx", "checksum": "sha256:ab"}],
    "sessions": [[], [SESSION], [SESSION, {**SESSION, "git": {"commit": "def", "dirty": False}}], [{}]],
    "imported": [{"file": "model.onnx", "sha256": "ab", "size": 10, "format": "onnx"}],
    "host": [None, "h", 3, 1.5, True],  # any other field: a scalar
}
BAD = {
    "argv": ["sparana train", ["sparana", 3], None, {"0": "sparana"}],
    "git": ["abc123", {"dirty": False}, {"commit": 7}, {"commit": "abc", "dirty": "yes"}, ["abc"]],
    "pid": ["many", 1.5, True, [1]],
    "data": ["mnist", {"name": "mnist", "size": 3}, ["mnist"]],
    "sessions": [None, SESSION, [1], [{**SESSION, "argv": "sparana train"}], [{**SESSION, "git": "abc"}],
                 [SESSION, "later"]],
    "imported": [None, "model.onnx", {"file": "model.onnx"}, {"sha256": "ab"}, {"file": 1, "sha256": "ab"},
                 {"file": "model.onnx", "sha256": None}],
    "host": [["a"], {"name": "h"}],
}


@pytest.mark.parametrize("key, value", [(k, v) for k, values in GOOD.items() for v in values])
def test_a_field_of_the_right_shape_is_kept(key, value):
    record = {key: value, "started": "2024-01-01T00:00:00"}
    assert provenance.well_formed(record) is record


@pytest.mark.parametrize("key, value", [(k, v) for k, values in BAD.items() for v in values])
def test_a_field_of_the_wrong_shape_is_left_out_and_named(key, value):
    record = {"started": "2024-01-01T00:00:00", key: value, "ended": None}
    assert provenance.well_formed(record) == {"started": "2024-01-01T00:00:00", "ended": None, "damaged": [key]}


def test_every_damaged_field_is_named_in_record_order():
    record = {"pid": "x", "host": "h", "argv": 1, "git": {"commit": "abc"}, "cupy": ["13"]}
    assert provenance.well_formed(record) == {"host": "h", "git": {"commit": "abc"}, "damaged": ["pid", "argv", "cupy"]}


# -- a run's life ------------------------------------------------------------------------------------


def test_start_writes_what_collect_says(tmp_path, no_command, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["sparana", "train", "spec.yaml"])
    provenance.start(tmp_path)
    record = provenance.read(tmp_path)
    assert record["argv"] == ["sparana", "train", "spec.yaml"] and record["pid"] == os.getpid()
    assert record["ended"] is None and "sessions" not in record


def test_each_resumed_session_is_added_in_order(tmp_path, no_command, monkeypatch):
    provenance.write(tmp_path, {"argv": ["sparana", "train", "s.yaml"], "pid": 1, "host": "first"})
    for argv in (["sparana", "train", "--resume", "r"], ["sparana", "train", "--resume", "r", "--epochs", "9"]):
        provenance.record_command(argv)
        provenance.resumed(tmp_path)
    record = provenance.read(tmp_path)
    assert (record["argv"], record["pid"], record["host"]) == (["sparana", "train", "s.yaml"], 1, "first")
    assert [s["argv"] for s in record["sessions"]] == [["sparana", "train", "--resume", "r"],
                                                       ["sparana", "train", "--resume", "r", "--epochs", "9"]]
    session = record["sessions"][-1]
    assert set(session) == {"argv", "host", "pid", "started", "git"}
    assert (session["host"], session["pid"], session["git"]) == (socket.gethostname(), os.getpid(),
                                                                provenance.git_state())
    _seconds(session["started"])


def test_a_run_without_provenance_gets_none_when_resumed_noted_or_finished(tmp_path):
    provenance.resumed(tmp_path)
    provenance.note(tmp_path, imported={"file": "m.onnx", "sha256": "ab"})
    provenance.finish(tmp_path, device="cpu", data={"name": "mnist"})
    assert not (tmp_path / "provenance.json").exists()  # an older run stays as it was written


def test_note_adds_fields_and_keeps_the_others(tmp_path):
    provenance.write(tmp_path, {"argv": ["sparana", "import", "m.onnx"], "host": "h"})
    provenance.note(tmp_path, imported={"file": "m.onnx", "sha256": "ab"}, host="other")
    assert provenance.read(tmp_path) == {"argv": ["sparana", "import", "m.onnx"], "host": "other",
                                         "imported": {"file": "m.onnx", "sha256": "ab"}}


def test_finish_records_the_end_the_device_and_the_data(tmp_path):
    provenance.write(tmp_path, {"argv": ["sparana", "train"], "ended": None, "device": None})
    provenance.finish(tmp_path, device="cuda:0 (NVIDIA H100)", data={"name": "mnist", "checksum": "sha256:ab"})
    record = provenance.read(tmp_path)
    assert abs((datetime.now() - _seconds(record["ended"])).total_seconds()) < 5
    assert record["device"] == "cuda:0 (NVIDIA H100)"
    assert record["data"] == {"name": "mnist", "checksum": "sha256:ab"}


def test_finish_without_a_device_or_data_keeps_what_was_recorded(tmp_path):
    provenance.write(tmp_path, {"ended": None, "device": "cpu", "data": {"name": "mnist"}})
    provenance.finish(tmp_path, device=None, data={})
    record = provenance.read(tmp_path)
    assert (record["device"], record["data"]) == ("cpu", {"name": "mnist"}) and record["ended"]
