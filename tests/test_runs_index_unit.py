"""The runs index (store/runs_index.py) on hand-made folders, fast: what it stores, when it reads a folder again,
what it trusts, how it is rebuilt, and how writers keep out of each other's way.

A run folder here holds spec.yaml (what makes it a run folder) and record.json, what read_run would say of it: the
`reads` fixture stands in for read_run (no HDF5) and counts the folders read. Sweep folders (status.json only) are
read by the real read_run. tests/test_runs_index.py checks the same against real trained runs, slowly.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import sqlite3
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sparana_cli.store import runs_index
from sparana_cli.store.record import RunRecord, read_run
from sparana_cli.store.runs_index import Entry, Seen

INDEX = ".runs-index.sqlite3"  # the documented name: `sparana runs` leaves it in the runs folder


def age(folder: Path, seconds: float) -> None:
    """Date a folder's files `seconds` back."""
    stamp = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (stamp, stamp), follow_symlinks=False)


def make_run(root: Path, name: str, *, seconds: float = 3600, **fields) -> Path:
    """A run folder whose record.json says what the `reads` fixture's read_run gives for it; its files an hour old."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text("seed: 1\n")
    fields = {"phase": "train", "dataset": "mnist", "created": "2026-01-01T00:00:00", "spec": {"seed": 1},
              "attrs": {"test": {"accuracy": 0.9}}, "formats": ["dense", "dense"], "sparsity": 0.0,
              "status": {"state": "completed"}, **fields}
    (folder / "record.json").write_text(json.dumps(fields))
    age(folder, seconds)
    return folder


def make_sweep(root: Path, name: str, started: str = "2026-01-02T00:00:00") -> Path:
    """A finished sweep folder as read_run reads it: status.json, no spec, no HDF5."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps({"state": "completed", "phase": "sweep", "started": started}))
    age(folder, 3600)
    return folder


def rewrite(folder: Path, **changes) -> None:
    """Change what a run folder's record says (its record.json changes size), its files an hour old again."""
    fields = {**json.loads((folder / "record.json").read_text()), **changes}
    (folder / "record.json").write_text(json.dumps(fields))
    age(folder, 3600)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """read_run for the index: a record from record.json (else the real read_run); the names of the folders read."""
    names = []

    def read(folder, **kwargs):
        folder = Path(folder)
        names.append(folder.name)
        if not (folder / "record.json").is_file():
            return read_run(folder, **kwargs)
        fields = json.loads((folder / "record.json").read_text())
        finished = not folder.name.endswith(".tmp")
        state = fields.pop("state", "completed" if finished else "killed")
        return RunRecord(folder, finished, state, fields.pop("status"), **fields)

    monkeypatch.setattr(runs_index, "read_run", read)
    return names


@pytest.fixture(autouse=True)
def lock_asks(monkeypatch) -> list[int]:
    """The flock operations the writers ask for; a writer that keeps asking for a lock it holds fails, not hangs."""
    asks = []

    def flock(handle, operation):
        asks.append(operation)
        if len(asks) > 1000:
            raise RuntimeError("a writer keeps asking for the writers' lock")
        fcntl.flock(handle, operation)

    monkeypatch.setattr(runs_index, "fcntl", SimpleNamespace(flock=flock, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB))
    return asks


def entries(root: Path) -> dict[str, int]:
    """The index's entries: name -> racy."""
    with sqlite3.connect(root / INDEX) as db:
        return dict(db.execute("SELECT name, racy FROM runs"))


def by_name(records: list[RunRecord]) -> dict[str, RunRecord]:
    return {r.name: r for r in records}


def shown(record: RunRecord) -> dict:
    """What `sparana runs` uses of a record: every field but the arrays and model (never indexed); of the provenance,
    only the sweep."""
    fields = dataclasses.asdict(record)
    fields["provenance"] = None if record.provenance is None else record.sweep
    return fields


# -- what is indexed --------------------------------------------------------------------------------


def test_a_listing_indexes_each_finished_folder_in_a_file_of_the_runs_folder(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    make_run(root, "b.tmp", status={"state": "running"})
    make_sweep(root, "s")
    (root / "notes.txt").write_text("not a run")
    (root / "data").mkdir()
    got = runs_index.records(root)
    assert sorted(r.name for r in got) == sorted(reads) == ["a", "b.tmp", "s"]
    assert (root / INDEX).is_file() and entries(root) == {"a": 0, "s": 0}
    with sqlite3.connect(root / INDEX) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone() == (runs_index.FORMAT,)


def test_a_second_listing_answers_from_the_index_with_the_records_reading_gives(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a", parent="runs/base", sparsity=0.5, formats=["dense", "csr"], message="",
             provenance={"sweep": "s-1", "argv": ["sparana", "train"]}, attrs={"test": {"accuracy": 0.75}, "train": {}})
    make_run(root, "b", provenance=None, spec={"model": {"hidden": [8]}}, sparsity=None, dataset="")
    make_sweep(root, "s-1")
    first = by_name(runs_index.records(root))
    reads.clear()
    second = by_name(runs_index.records(root))
    assert reads == []
    assert {name: shown(r) for name, r in second.items()} == {name: shown(r) for name, r in first.items()}
    assert second["a"].provenance == {"sweep": "s-1"} and second["b"].provenance is None
    assert (second["a"].finished, second["a"].state) == (True, "completed")


def test_without_specs_an_indexed_record_has_none_and_a_folder_read_keeps_its_own(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    make_run(root, "b", spec={"seed": 2})
    reads.clear()
    got = by_name(runs_index.records(root, specs=False))
    assert reads == ["b"] and got["a"].spec is None and got["b"].spec == {"seed": 2}
    assert got["a"].attrs == {"test": {"accuracy": 0.9}}
    assert by_name(runs_index.records(root))["a"].spec == {"seed": 1}


def test_new_renamed_changed_and_removed_folders_are_read_again_and_the_rest_are_not(tmp_path, reads):
    root = tmp_path / "runs"
    for name in "abcd":
        make_run(root, name)
    runs_index.records(root)
    reads.clear()
    make_run(root, "e")
    (root / "b").rename(root / "b2")
    rewrite(root / "c", dataset="fashion")
    (root / "d" / "record.json").unlink()
    (root / "d" / "spec.yaml").unlink()
    (root / "d").rmdir()
    got = by_name(runs_index.records(root))
    assert sorted(reads) == ["b2", "c", "e"] and sorted(got) == ["a", "b2", "c", "e"]
    assert got["c"].dataset == "fashion" and set(entries(root)) == {"a", "b2", "c", "e"}


def test_a_folder_added_alone_is_indexed_and_one_removed_alone_forgotten(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    make_run(root, "b")
    runs_index.records(root)
    assert set(entries(root)) == {"a", "b"}
    for path in (root / "a").iterdir():
        path.unlink()
    (root / "a").rmdir()
    reads.clear()
    assert [r.name for r in runs_index.records(root)] == ["b"] and reads == []
    assert set(entries(root)) == {"b"}


def test_a_damaged_run_is_never_cached_and_a_cached_run_that_breaks_is_dropped(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    make_run(root, "d", state="damaged", message="model.h5: not HDF5")
    runs_index.records(root)
    assert set(entries(root)) == {"a"}
    reads.clear()
    assert by_name(runs_index.records(root))["d"].state == "damaged" and reads == ["d"]
    rewrite(root / "a", state="damaged")
    reads.clear()
    assert by_name(runs_index.records(root))["a"].state == "damaged" and sorted(reads) == ["a", "d"]
    assert entries(root) == {}


def test_an_unfinished_folder_is_read_every_time_and_never_cached(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "u.tmp", status={"state": "running", "epochs": 3})
    make_sweep(root, "s")
    for _ in range(2):
        reads.clear()
        got = by_name(runs_index.records(root))
        assert "u.tmp" in reads and not got["u.tmp"].finished
    assert entries(root) == {"s": 0}


def test_a_folder_with_a_file_younger_than_two_seconds_is_read_once_more(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a", seconds=1.0)  # within FAT's 2 s tick: a change at the same size could share its time
    runs_index.records(root)
    assert entries(root) == {"a": 1}
    reads.clear()
    runs_index.records(root)
    assert reads == ["a"]


@pytest.mark.parametrize("seconds, racy", [(0.0, True), (1.5, True), (2.5, False), (3600, False)])
def test_a_file_is_too_young_to_trust_within_two_seconds(tmp_path, seconds, racy):
    make_run(tmp_path, "a", seconds=seconds)
    assert runs_index.scan(tmp_path)["a"].racy is racy


# -- which folders, and their signature -------------------------------------------------------------


def test_scan_finds_run_and_sweep_folders_and_nothing_else(tmp_path):
    make_run(tmp_path, "a")
    make_sweep(tmp_path, "s")
    (tmp_path / "u.tmp").mkdir()
    (tmp_path / "u.tmp" / "status.json").write_text("{}")
    for k in range(4):
        (tmp_path / f"empty{k}").mkdir()  # neither spec.yaml nor status.json
        (tmp_path / f"file{k}.txt").write_text("")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "spec.yaml").mkdir()  # a folder by the name of a file
    (tmp_path / "link").symlink_to(tmp_path / "a")  # a symbolic link to a run folder
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "file.txt").symlink_to(tmp_path / "file0.txt")
    found = runs_index.scan(tmp_path)
    assert sorted(found) == ["a", "s", "u.tmp"]
    assert found["u.tmp"] is None and isinstance(found["a"], Seen) and isinstance(found["s"], Seen)


def test_a_folders_signature_changes_with_any_files_name_size_or_time(tmp_path):
    folder = make_run(tmp_path, "a")
    before = runs_index.scan(tmp_path)["a"]
    assert runs_index.scan(tmp_path)["a"] == before
    stamp = (folder / "spec.yaml").stat()
    (folder / "spec.yaml").write_text("seed: 2\n")  # the same size and, restored, the same time: unseen
    os.utime(folder / "spec.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert runs_index.scan(tmp_path)["a"] == before
    os.utime(folder / "spec.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns - 10**9))
    assert runs_index.scan(tmp_path)["a"].signature != before.signature
    os.utime(folder / "spec.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (folder / "spec.yaml").write_text("seed: 10\n")
    os.utime(folder / "spec.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert runs_index.scan(tmp_path)["a"].signature != before.signature
    (folder / "spec.yaml").write_text("seed: 1\n")
    os.utime(folder / "spec.yaml", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert runs_index.scan(tmp_path)["a"] == before
    (folder / "record.json").rename(folder / "record2.json")
    assert runs_index.scan(tmp_path)["a"].signature != before.signature


def test_files_are_listed_by_name_kind_size_and_time_and_a_dangling_link_by_name_alone(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    (tmp_path / "d").mkdir()
    (tmp_path / "l").symlink_to(tmp_path / "nowhere")
    x, d = (tmp_path / "x").stat(), (tmp_path / "d").stat()
    assert sorted(runs_index._files(tmp_path)) == [("d", False, d.st_size, d.st_mtime_ns), ("l", False, -1, -1),
                                                    ("x", True, 3, x.st_mtime_ns)]
    assert runs_index._files(tmp_path / "missing") is None


# -- what an entry is trusted for -------------------------------------------------------------------


@pytest.fixture
def stored(tmp_path):
    """A run's record, the entry the index stores for it, and the Seen of its files."""
    record = RunRecord(tmp_path / "a", True, "completed", {"state": "completed"}, phase="prune", parent="runs/b",
                       dataset="mnist", created="2026-01-01T00:00:00", formats=["dense", "csr"], sparsity=0.5,
                       attrs={"test": {"accuracy": 0.5}}, provenance={"sweep": "s-1", "pid": 7}, spec={"seed": 1})
    texts = runs_index._encode(record)
    return SimpleNamespace(record=record, entry=Entry("sig", False, *texts, runs_index._crc(*texts)),
                           seen=Seen("sig", False))


def test_an_intact_entry_for_the_same_files_gives_the_record(stored):
    got = runs_index._decode(stored.record.path, stored.entry, stored.seen, specs=True)
    assert got == dataclasses.replace(stored.record, provenance={"sweep": "s-1"})
    assert runs_index._decode(stored.record.path, stored.entry, stored.seen, specs=False) == \
        dataclasses.replace(stored.record, provenance={"sweep": "s-1"}, spec=None)


def with_record(entry: Entry, fields=None, spec=None, **changes) -> Entry:
    """The entry with its record fields changed (and its checksum made to fit)."""
    record = json.loads(entry.record)
    record = fields(record) if callable(fields) else {**record, **changes}
    texts = (json.dumps(record), entry.spec if spec is None else spec)
    return dataclasses.replace(entry, record=texts[0], spec=texts[1], crc=runs_index._crc(*texts))


def without(key):
    return lambda record: {k: v for k, v in record.items() if k != key}


@pytest.mark.parametrize("change", [
    "no entry", "unfinished", "racy", "other files", "checksum", "record bytes", "spec bytes", "record not JSON",
    "spec not JSON", "record a list", "a field missing", "a field more", "spec a list", "sparsity text",
    "sparsity a bool", "status a list", "provenance text", "formats a dict", "created a number"])
def test_an_entry_for_other_files_damaged_or_of_the_wrong_shape_is_not_trusted(stored, change):
    entry, seen = stored.entry, stored.seen
    changed = {
        "no entry": lambda: (None, seen),
        "unfinished": lambda: (entry, None),
        "racy": lambda: (dataclasses.replace(entry, racy=True), seen),
        "other files": lambda: (entry, Seen("sig2", False)),
        "checksum": lambda: (dataclasses.replace(entry, crc=entry.crc ^ 1), seen),
        "record bytes": lambda: (dataclasses.replace(entry, record=entry.record.encode()), seen),
        "spec bytes": lambda: (dataclasses.replace(entry, spec=entry.spec.encode()), seen),
        "record not JSON": lambda: (dataclasses.replace(entry, record="{", crc=runs_index._crc("{", entry.spec)), seen),
        "spec not JSON": lambda: (with_record(entry, spec="{"), seen),
        "record a list": lambda: (with_record(entry, lambda record: [record]), seen),
        "a field missing": lambda: (with_record(entry, without("attrs")), seen),
        "a field more": lambda: (with_record(entry, model={}), seen),
        "spec a list": lambda: (with_record(entry, spec="[1]"), seen),
        "sparsity text": lambda: (with_record(entry, sparsity="0.5"), seen),
        "sparsity a bool": lambda: (with_record(entry, sparsity=True), seen),
        "status a list": lambda: (with_record(entry, status=[]), seen),
        "provenance text": lambda: (with_record(entry, provenance="s-1"), seen),
        "formats a dict": lambda: (with_record(entry, formats={}), seen),
        "created a number": lambda: (with_record(entry, created=2026), seen),
    }[change]()
    assert runs_index._decode(stored.record.path, *changed, specs=True) is None


def test_an_entry_of_the_right_shape_may_hold_none_for_what_a_run_may_lack(stored):
    entry = with_record(stored.entry, sparsity=None, provenance=None, spec="null")
    got = runs_index._decode(stored.record.path, entry, stored.seen, specs=True)
    assert (got.sparsity, got.provenance, got.spec, got.sweep) == (None, None, None, "")
    entry = with_record(stored.entry, sparsity=1)
    assert runs_index._decode(stored.record.path, entry, stored.seen, specs=True).sparsity == 1


def test_an_entry_holds_numpy_values_as_numbers_and_of_the_provenance_only_the_sweep(tmp_path):
    record = RunRecord(tmp_path / "a", True, "completed", {}, sparsity=np.float64(0.25),
                       attrs={"test": {"accuracy": np.float32(0.5), "per_class": np.array([0.5, 1.0])}},
                       provenance={"sweep": "s-1", "argv": ["sparana"]}, spec={"model": {"hidden": (8, 4)}})
    fields, spec = runs_index._encode(record)
    fields = json.loads(fields)
    assert fields["attrs"] == {"test": {"accuracy": 0.5, "per_class": [0.5, 1.0]}} and fields["sparsity"] == 0.25
    assert fields["provenance"] == {"sweep": "s-1"} and json.loads(spec) == {"model": {"hidden": [8, 4]}}
    assert json.loads(runs_index._encode(dataclasses.replace(record, provenance=None))[0])["provenance"] is None
    assert json.loads(runs_index._encode(dataclasses.replace(record, provenance={}))[0])["provenance"] == {"sweep": ""}


# -- the SQLite file: read, trusted or rebuilt ------------------------------------------------------


def test_an_index_is_loaded_only_when_it_is_a_file_of_this_format(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    path = root / INDEX
    assert runs_index._load(path) == ({}, True)  # missing
    runs_index.records(root)
    stored, damaged = runs_index._load(path)
    assert set(stored) == {"a"} and not damaged and stored["a"].racy == 0
    assert stored["a"].signature == runs_index.scan(root)["a"].signature
    (tmp_path / "elsewhere").mkdir()
    os.replace(path, tmp_path / "elsewhere" / INDEX)
    path.symlink_to(tmp_path / "elsewhere" / INDEX)
    assert runs_index._load(path) == ({}, True)  # a link, though to a good index
    path.unlink()
    path.mkdir()
    assert runs_index._load(path) == ({}, True)
    path.rmdir()
    path.write_bytes(b"not SQLite at all" * 100)
    assert runs_index._load(path) == ({}, True)
    with sqlite3.connect(path.with_name("other")) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('format', '1 sparana 0.0')")
    os.replace(path.with_name("other"), path)
    assert runs_index._load(path) == ({}, True)


def test_an_entry_whose_name_is_not_text_is_left_out(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    with sqlite3.connect(root / INDEX) as db:  # written by something else: a BLOB where a name belongs
        db.execute("INSERT INTO runs SELECT CAST(name AS BLOB), signature, racy, record, spec, crc FROM runs")
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (2,)
    stored, damaged = runs_index._load(root / INDEX)
    assert list(stored) == ["a"] and not damaged
    reads.clear()
    assert [r.name for r in runs_index.records(root)] == ["a"] and reads == []


def test_an_index_a_writer_holds_is_busy_not_damaged(tmp_path, reads, monkeypatch):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    monkeypatch.setattr(runs_index, "WAIT_SECONDS", 0.05)
    holder = sqlite3.connect(root / INDEX, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert runs_index._load(root / INDEX) == ({}, False)
        assert not runs_index._current(root / INDEX)
    finally:
        holder.close()
    assert runs_index._current(root / INDEX)


@pytest.mark.parametrize("message, name, busy", [
    ("database is locked", None, True),
    ("database table is locked", None, True),
    ("busy", "SQLITE_BUSY", True),
    ("busy", "SQLITE_LOCKED", True),
    ("file is not a database", "SQLITE_NOTADB", False),
    ("no such table: runs", None, False),
])
def test_busy_means_locked_by_another_connection(message, name, busy):
    err = sqlite3.OperationalError(message)
    if name is not None:
        err.sqlite_errorname = name
    assert runs_index._busy(err) is busy


@pytest.mark.parametrize("damage", ["garbage", "empty", "other format", "a runs table of another shape"])
def test_a_damaged_index_is_rebuilt_from_the_folders(tmp_path, reads, damage):
    root = tmp_path / "runs"
    make_run(root, "a")
    make_sweep(root, "s")
    runs_index.records(root)
    path = root / INDEX
    if damage == "garbage":
        path.write_bytes(b"\xff" * path.stat().st_size)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with sqlite3.connect(path) as db:
            if damage == "other format":
                db.execute("UPDATE meta SET value = '1 sparana 0.0'")
            else:
                db.execute("DROP TABLE runs")
                db.execute("CREATE TABLE runs (name TEXT PRIMARY KEY)")
    reads.clear()
    assert sorted(r.name for r in runs_index.records(root)) == sorted(reads) == ["a", "s"]
    stored, damaged = runs_index._load(path)
    assert set(stored) == {"a", "s"} and not damaged
    reads.clear()
    runs_index.records(root)
    assert reads == []


def test_a_damaged_index_is_replaced_even_when_no_folder_can_be_cached(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "u.tmp", status={"state": "running"})
    (root / INDEX).write_bytes(b"\xff" * 4096)
    runs_index.records(root)
    assert runs_index._load(root / INDEX) == ({}, False)


def test_an_empty_runs_folder_gets_no_index(tmp_path, reads):
    assert runs_index.records(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_planted_link_is_never_read_nor_written_through(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a", created="2026-01-01T00:00:00")
    runs_index.records(root)
    target = tmp_path / "elsewhere.sqlite3"
    os.replace(root / INDEX, target)
    with sqlite3.connect(target) as db:  # an intact entry for a's very files, that lies
        (record,) = db.execute("SELECT record FROM runs").fetchone()
        record, spec = record.replace("2026-01-01T00:00:00", "1999-01-01T00:00:00"), "{}"
        db.execute("UPDATE runs SET record = ?, spec = ?, crc = ?", (record, spec, runs_index._crc(record, spec)))
    planted = target.read_bytes()
    (root / INDEX).symlink_to(target)
    reads.clear()
    assert runs_index.records(root)[0].created == "2026-01-01T00:00:00" and reads == ["a"]
    assert not (root / INDEX).is_symlink() and set(entries(root)) == {"a"}
    assert target.read_bytes() == planted


def test_a_link_planted_where_the_index_belongs_is_replaced_when_a_run_is_added(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(tmp_path / "other", "x")
    runs_index.records(tmp_path / "other")
    target = tmp_path / "other" / INDEX
    planted = target.read_bytes()
    (root).mkdir()
    (root / INDEX).symlink_to(target)
    runs_index.add(make_run(root, "a"))
    assert not (root / INDEX).is_symlink() and set(entries(root)) == {"a"}
    assert target.read_bytes() == planted


def test_a_rebuild_removes_what_a_crashed_writer_left(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    path = root / INDEX
    path.write_bytes(b"\xff" * 4096)
    leftovers = [path.with_name(INDEX + suffix) for suffix in ("-journal", "-wal", "-shm")]
    leftovers.append(path.with_name(f"{INDEX}.{os.getpid()}.new"))
    for leftover in leftovers:
        leftover.write_bytes(b"\xff" * 4096)
    runs_index.records(root)
    assert [p.name for p in leftovers if p.exists()] == [] and set(entries(root)) == {"a"}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_the_new_empty_index_replaces_the_file_with_what_a_crashed_writer_left_beside_it(tmp_path):
    path = tmp_path / INDEX
    path.write_bytes(b"\xff" * 4096)
    leftovers = [path.with_name(INDEX + suffix) for suffix in ("-journal", "-wal", "-shm")]
    for leftover in leftovers:  # left to SQLite, an old journal would be played into the new index when it is opened
        leftover.write_bytes(b"\xff" * 4096)
    runs_index._replace_with_empty(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [INDEX]
    assert runs_index._load(path) == ({}, False) and runs_index._current(path)


# -- writing ----------------------------------------------------------------------------------------


@pytest.fixture
def writes(monkeypatch) -> list[tuple]:
    """The index writes asked for: (fresh names, gone, stale, damaged)."""
    asked = []
    write = runs_index._write

    def spy(root, fresh, gone, stale, *, damaged=False):
        asked.append((sorted(fresh), sorted(gone), sorted(stale), damaged))
        write(root, fresh, gone, stale, damaged=damaged)

    monkeypatch.setattr(runs_index, "_write", spy)
    return asked


def test_a_listing_writes_only_when_something_changed(tmp_path, reads, writes):
    root = tmp_path / "runs"
    make_run(root, "a")
    make_run(root, "u.tmp", status={"state": "running"})
    runs_index.records(root)
    assert writes == [(["a"], [], [], True)]
    runs_index.records(root)
    runs_index.records(root)
    assert len(writes) == 1  # only the unfinished folder, read again: nothing to write


def test_a_listing_told_not_to_write_leaves_the_runs_folder_as_it_is(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    assert [r.name for r in runs_index.records(root, write=False)] == ["a"]
    assert not (root / INDEX).exists()
    runs_index.records(root)
    (root / "a" / "record.json").unlink()
    (root / "a" / "spec.yaml").unlink()
    (root / "a").rmdir()
    assert runs_index.records(root, write=False) == [] and set(entries(root)) == {"a"}


def test_an_entry_is_dropped_only_when_its_folder_is_still_gone(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    make_run(root, "b")
    runs_index.records(root)
    runs_index._write(root, {}, ["a", "b"], [])  # a is back (say, renamed back) by the time the index is written
    for path in (root / "b").iterdir():
        path.unlink()
    runs_index._write(root, {}, ["a", "b"], [])  # b is still a folder, though no longer a run: kept too
    assert set(entries(root)) == {"a", "b"}
    (root / "b").rmdir()
    runs_index._write(root, {}, ["a", "b"], [])
    assert set(entries(root)) == {"a"}


@pytest.fixture
def clock(monkeypatch):
    """A clock for the writers' lock: every sleep moves it half a second on."""
    fake = SimpleNamespace(now=100.0, sleeps=[])

    def sleep(seconds):
        fake.sleeps.append(seconds)
        fake.now += 0.5

    monkeypatch.setattr(runs_index, "time", SimpleNamespace(monotonic=lambda: fake.now, sleep=sleep,
                                                            time_ns=time.time_ns))
    return fake


def test_a_writer_waits_for_the_lock_then_leaves_the_index_alone(tmp_path, reads, clock):
    root = tmp_path / "runs"
    make_run(root, "a")
    handle = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another writer, holding it past the wait
        assert [r.name for r in runs_index.records(root)] == ["a"]
        waited = clock.now - 100.0
        assert runs_index.WAIT_SECONDS < waited <= runs_index.WAIT_SECONDS + 0.5
        assert max(clock.sleeps) <= 0.05  # polled often: a lock given back is taken soon after
        assert not (root / INDEX).exists()
    finally:
        os.close(handle)
    runs_index.records(root)
    assert set(entries(root)) == {"a"}


def test_a_free_lock_is_taken_at_the_first_ask_without_waiting(tmp_path, reads, lock_asks):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    assert lock_asks == [fcntl.LOCK_EX | fcntl.LOCK_NB] and set(entries(root)) == {"a"}


def test_a_writer_takes_the_lock_once_it_is_free(tmp_path, reads, monkeypatch):
    root = tmp_path / "runs"
    make_run(root, "a")
    handle = os.open(root, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX)
    sleeps = []

    def sleep(seconds):  # the other writer gives it back while this one waits
        sleeps.append(seconds)
        fcntl.flock(handle, fcntl.LOCK_UN)

    monkeypatch.setattr(runs_index, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep,
                                                            time_ns=time.time_ns))
    try:
        runs_index.records(root)
    finally:
        os.close(handle)
    assert len(sleeps) == 1 and set(entries(root)) == {"a"}


def test_without_flock_the_index_is_still_written(tmp_path, reads, monkeypatch):
    monkeypatch.setattr(runs_index, "fcntl", None)
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    assert set(entries(root)) == {"a"}


def test_an_index_that_cannot_be_written_is_left_as_it_is(tmp_path, reads, monkeypatch):
    def refuse(path):
        raise OSError("read-only file system")

    monkeypatch.setattr(runs_index, "_replace_with_empty", refuse)
    root = tmp_path / "runs"
    make_run(root, "a")
    assert [r.name for r in runs_index.records(root)] == ["a"] and not (root / INDEX).exists()


# -- add and drop -----------------------------------------------------------------------------------


def test_a_finished_run_is_added_beside_the_others(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    runs_index.add(make_run(root, "b"))
    runs_index.add(str(make_sweep(root, "s")))
    assert set(entries(root)) == {"a", "b", "s"}
    reads.clear()
    runs_index.records(root)
    assert reads == []


def test_a_missing_or_damaged_folder_is_not_added(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.add(root / "missing")
    assert not (root / INDEX).exists()
    runs_index.add(make_run(root, "d", state="damaged"))
    assert not (root / INDEX).exists()


def test_an_index_found_damaged_while_adding_is_rebuilt_with_the_run(tmp_path, reads):
    root = tmp_path / "runs"
    make_run(root, "a")
    runs_index.records(root)
    with sqlite3.connect(root / INDEX) as db:
        db.execute("DROP TABLE runs")  # its format still says current: found only when writing
    runs_index.add(make_run(root, "b"))
    assert set(entries(root)) == {"b"}


def test_dropped_entries_are_forgotten_and_the_others_kept(tmp_path, reads):
    root = tmp_path / "runs"
    for name in "abc":
        make_run(root, name)
    runs_index.records(root)
    runs_index.drop(root, ["a", "c"])
    assert set(entries(root)) == {"b"}
