"""The runs index: the same rows as reading every folder, every change to the folders seen, damage and concurrent
writers survived (a damaged index is rebuilt, never trusted)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sparana_cli.cli import main
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import listing, runs_index
from sparana_cli.store.record import is_run_folder, read_run
from sparana_cli.ui import Console, _jsonable
from tests.conftest import tiny_spec, write_idx_folder

ROOT = Path(__file__).resolve().parent.parent
HOUR_AGO = time.time() - 3600


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One finished tiny training run (copied into each test's runs folder)."""
    data = write_idx_folder(tmp_path_factory.mktemp("data"))
    root = tmp_path_factory.mktemp("trained")
    return Path(train(spec_from_mapping(tiny_spec(data), "s"), root=root, console=Console(json_mode=True))["run"])


def settle(folder: Path) -> None:
    """Date a folder's files an hour back: old enough for the index to trust their timestamps."""
    for path in folder.iterdir():
        os.utime(path, (HOUR_AGO, HOUR_AGO))


def runs_folder(tmp_path: Path, trained: Path, n: int) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    for k in range(n):
        shutil.copytree(trained, root / f"{trained.name}-{k + 2}")
        settle(root / f"{trained.name}-{k + 2}")
    return root


def truth(root: Path) -> list[dict]:
    """The rows `sparana runs` shows, from reading every folder (no index)."""
    return rows_of(sorted((read_run(f) for f in root.iterdir() if is_run_folder(f)), key=lambda r: (r.created, r.name)),
                   root)


def rows_of(found, root: Path) -> list[dict]:
    return _jsonable(listing.list_runs(root, all_records=found))


def listed(root: Path) -> list[dict]:
    return rows_of(listing.records(root), root)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The names of the folders the index had to read."""
    names = []

    def counting(folder, **kwargs):
        names.append(Path(folder).name)
        return read_run(folder, **kwargs)

    monkeypatch.setattr(runs_index, "read_run", counting)
    return names


def entries(root: Path) -> dict[str, tuple]:
    with sqlite3.connect(root / runs_index.INDEX_FILE) as db:
        return {row[0]: row[1:] for row in db.execute("SELECT name, signature, racy FROM runs")}


def test_the_index_gives_the_rows_reading_the_folders_gives_and_is_used(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 5)
    assert listed(root) == truth(root)
    assert len(reads) == 5 and set(entries(root)) == {p.name for p in root.iterdir() if p.is_dir()}
    reads.clear()
    assert listed(root) == truth(root)
    assert reads == []  # all five answered from the index


def test_a_where_filter_reads_the_specs_from_the_index(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 3)
    listing.records(root)
    reads.clear()
    rows = listing.list_runs(root, where=["model.hidden=[24, 16]"], all_records=listing.records(root))
    assert len(rows) == 3 and reads == []
    assert listing.list_runs(root, where=["model.hidden=[8]"], all_records=listing.records(root)) == []
    assert all(r.spec is None for r in listing.records(root, specs=False))


def test_added_removed_renamed_and_changed_folders_are_read_again(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 3)
    listed(root)
    first, second, third = sorted(p for p in root.iterdir() if p.is_dir())
    reads.clear()
    shutil.copytree(trained, root / "added-20260101-000000")
    settle(root / "added-20260101-000000")
    shutil.rmtree(first)
    second.rename(root / "renamed-20260101-000000")
    with h5py.File(third / "metrics.h5", "a") as f:  # same size, new time: a changed summary number
        f["test"].attrs["accuracy"] = 0.5
    assert listed(root) == truth(root)
    assert sorted(reads) == sorted(["added-20260101-000000", "renamed-20260101-000000", third.name])
    assert set(entries(root)) == {"added-20260101-000000", "renamed-20260101-000000", third.name}
    assert next(r for r in listed(root) if r["name"] == third.name)["metric"] == "test 50.00%"


def test_a_damaged_run_is_never_cached(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 2)
    listed(root)
    victim = sorted(p for p in root.iterdir() if p.is_dir())[0]
    (victim / "model.h5").write_bytes(b"not hdf5")
    settle(victim)
    for _ in range(2):
        reads.clear()
        rows = listed(root)
        assert reads == [victim.name]
        assert next(r for r in rows if r["name"] == victim.name)["state"] == "damaged"
    assert victim.name not in entries(root)


def test_a_file_younger_than_the_timestamp_tick_is_read_once_more(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 1)
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    os.utime(run / "metrics.h5")  # just written: a change at the same size and time would go unseen
    listed(root)
    assert entries(root)[run.name][1] == 1  # racy
    stamp = (run / "metrics.h5").stat()
    with h5py.File(run / "metrics.h5", "a") as f:
        f["test"].attrs["accuracy"] = 0.25
    os.utime(run / "metrics.h5", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size, same time
    assert (run / "metrics.h5").stat().st_size == stamp.st_size
    reads.clear()
    assert listed(root)[0]["metric"] == "test 25.00%" and reads == [run.name]


def test_unfinished_folders_are_read_every_time(tmp_path, trained, reads):
    root = runs_folder(tmp_path, trained, 1)
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    run.rename(run.with_name(run.name + ".tmp"))
    for _ in range(2):
        reads.clear()
        assert listed(root)[0]["status"] == "incomplete" and reads == [run.name + ".tmp"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "empty", "other format", "bad entry",
                                    "wrong types", "a folder"])
def test_a_damaged_or_missing_index_is_rebuilt_never_trusted(tmp_path, trained, damage):
    root = runs_folder(tmp_path, trained, 6)
    listed(root)
    path = root / runs_index.INDEX_FILE
    if damage == "garbage":
        path.write_bytes(os.urandom(path.stat().st_size))
    elif damage == "truncated":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
    elif damage == "deleted":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other format":
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = 'from another version'")
    elif damage == "bad entry":  # a record changed behind SQLite's back: its checksum no longer fits
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET record = replace(record, '\"train\"', '\"attack\"')")
    elif damage == "wrong types":  # a consistent entry of the wrong shape
        record = '{"phase": 1}'
        with sqlite3.connect(path) as db:
            db.execute("UPDATE runs SET record = ?, spec = 'null', crc = ?", (record, runs_index._crc(record, "null")))
    else:  # something else where the index belongs: listing works, nothing is written
        path.unlink()
        path.mkdir()
    assert listed(root) == truth(root)
    if damage == "a folder":
        assert sorted(p.name for p in root.iterdir() if p != path) == \
            sorted(p.name for p in root.iterdir() if p.is_dir() and p != path)  # nothing written beside it
        return
    stored, damaged = runs_index._load(path)
    assert not damaged and len(stored) == 6  # rebuilt in full
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_index_that_cannot_be_written_is_left_alone(tmp_path, trained, monkeypatch):
    root = runs_folder(tmp_path, trained, 2)

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(runs_index, "_replace_with_empty", refuse)
    assert listed(root) == truth(root)
    assert not (root / runs_index.INDEX_FILE).exists()


def test_an_empty_or_missing_runs_folder_gets_no_index(tmp_path):
    assert listing.records(tmp_path / "none") == []
    (tmp_path / "empty").mkdir()
    assert listing.records(tmp_path / "empty") == []
    assert list((tmp_path / "empty").iterdir()) == []


def test_a_finished_run_is_indexed_and_a_removed_one_dropped(tmp_path, idx_folder):
    root = tmp_path / "runs"
    run = Path(train(spec_from_mapping(tiny_spec(idx_folder), "s"), root=root, console=Console(json_mode=True))["run"])
    assert run.name in entries(root)
    result = CliRunner().invoke(main, ["runs", "rm", "--yes", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert entries(root) == {}


WORKER = """
import os, random, sys, time
from pathlib import Path
from sparana_cli.store import listing, runs_index
root, seed, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
folders = sorted(p for p in root.iterdir() if p.is_dir())
for _ in range(rounds):
    folder = rng.choice(folders)
    stamp = time.time() - rng.randrange(3600, 7200)
    for path in folder.iterdir():
        os.utime(path, (stamp, stamp))  # a changed folder: read again and written back by this listing
    if seed == 0 and rng.random() < 0.3:
        (root / runs_index.INDEX_FILE).unlink(missing_ok=True)  # deleted while the others write
    if rng.random() < 0.3:
        runs_index.add(folder)  # as when a run finishes
    assert len(listing.records(root)) == len(folders)
"""


def test_concurrent_processes_never_corrupt_it(tmp_path, trained):
    root = runs_folder(tmp_path, trained, 8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(seed), "15"], env=env,
                                stderr=subprocess.PIPE, text=True) for seed in range(5)]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
    assert listed(root) == truth(root)
    with sqlite3.connect(root / runs_index.INDEX_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not [p for p in root.iterdir() if p.name.endswith((".new", "-journal"))]


def test_the_runs_command_answers_from_the_index(tmp_path, trained):
    root = runs_folder(tmp_path, trained, 3)
    first = CliRunner().invoke(main, ["runs", "--runs-dir", str(root), "--json"], catch_exceptions=False)
    second = CliRunner().invoke(main, ["runs", "--runs-dir", str(root), "--json"], catch_exceptions=False)
    assert first.exit_code == second.exit_code == 0
    assert json.loads(first.output) == json.loads(second.output)
    assert len(json.loads(second.output)["runs"]) == 3


OPERATIONS = st.lists(st.tuples(st.sampled_from(["add", "remove", "rename", "change", "damage index", "delete index",
                                                  "unfinish", "list"]), st.integers(0, 7)), max_size=8)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_whatever_happens_to_the_folders_the_index_agrees_with_them(trained, operations):
    """Any sequence of changes to the folders and the index, each followed by a listing: the rows reading gives."""
    with tempfile.TemporaryDirectory() as tmp:
        root = runs_folder(Path(tmp), trained, 3)
        listed(root)
        for step, (operation, k) in enumerate(operations):
            folders = sorted(p for p in root.iterdir() if p.is_dir())
            folder = folders[k % len(folders)] if folders else None
            if operation == "add":
                shutil.copytree(trained, root / f"added{step}-20260101-000000")
            elif operation == "remove" and folder:
                shutil.rmtree(folder)
            elif operation == "rename" and folder:
                folder.rename(root / f"renamed{step}-20260101-000000")
            elif operation == "change" and folder and (folder / "metrics.h5").exists():
                with h5py.File(folder / "metrics.h5", "a") as f:
                    f["test"].attrs["accuracy"] = step / 10
            elif operation == "damage index" and (root / runs_index.INDEX_FILE).exists():
                with open(root / runs_index.INDEX_FILE, "r+b") as f:
                    f.seek(k * 512)
                    f.write(b"\xff" * 512)
            elif operation == "delete index":
                (root / runs_index.INDEX_FILE).unlink(missing_ok=True)
            elif operation == "unfinish" and folder and not folder.name.endswith(".tmp"):
                folder.rename(folder.with_name(folder.name + ".tmp"))
            assert listed(root) == truth(root)


def test_the_default_run_is_found_from_the_index_without_opening_a_model(tmp_path, trained, reads, monkeypatch):
    from sparana_cli.store import runs

    root = runs_folder(tmp_path, trained, 4)
    newest = max(root.iterdir(), key=lambda p: p.name)  # the copies share `created`: the name decides
    assert runs.resolve_run(root, None) == newest
    assert not (root / runs_index.INDEX_FILE).exists()  # the lookup writes nothing; a listing indexes them
    listing.records(root)
    reads.clear()

    def refuse(*args, **kwargs):
        raise AssertionError("an HDF5 file was opened")

    monkeypatch.setattr(h5py, "File", refuse)
    assert runs.resolve_run(root, None) == newest
    assert reads == []


def test_read_run_says_what_a_finished_an_unfinished_a_damaged_and_a_sweep_folder_record(tmp_path, trained):
    import yaml

    root = runs_folder(tmp_path, trained, 1)
    (done,) = root.iterdir()
    record = read_run(done)
    spec = yaml.safe_load((done / "spec.yaml").read_text())
    with h5py.File(done / "model.h5") as f:
        created = f.attrs["created"]
    assert (record.finished, record.state, record.phase, record.parent, record.message) == (True, "completed", "train", "",
                                                                                         "")
    assert record.spec == spec and record.dataset == spec["data"]["name"] and record.created == created
    assert record.formats == ["dense"] * 3 and record.sparsity == 0.0 and "train" in record.arrays
    assert record.model["phase"] == "train" and record.sweep == ""
    record.provenance = {"sweep": "runs/s-sweep"}
    assert record.sweep == "runs/s-sweep"

    unfinished = root / "tiny-20261205-120000.tmp"
    unfinished.mkdir()
    (unfinished / "status.json").write_text(json.dumps({"state": "failed", "phase": "prune", "message": "boom",
                                                        "started": "2026-12-05T12:00:00"}))
    assert is_run_folder(unfinished)
    record = read_run(unfinished)
    assert (record.finished, record.state, record.phase, record.message, record.created, record.spec, record.dataset) == (
        False, "failed", "prune", "boom", "2026-12-05T12:00:00", None, "")
    assert (record.parent, record.model, record.formats, record.sparsity, record.arrays, record.attrs) == (
        "", {}, [], None, {}, {})  # nothing of an unfinished run's HDF5 is read
    (unfinished / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert read_run(unfinished).dataset == spec["data"]["name"]  # an unfinished run's spec is read when it has one

    (done / "spec.yaml").write_text("- a list\n")
    record = read_run(done)
    assert record.state == "damaged" and record.message == f"{done / 'spec.yaml'}: expected a mapping of keys"
    with pytest.raises(Exception, match="expected a mapping of keys"):
        read_run(done, strict=True)

    sweep = root / "s-sweep-20261205-120000"
    sweep.mkdir()
    assert not is_run_folder(sweep)
    (sweep / "status.json").write_text(json.dumps({"state": "completed", "phase": "sweep"}))
    record = read_run(sweep)
    assert is_run_folder(sweep) and record.phase == "sweep" and record.spec is None and record.state != "damaged"
