"""The runs index: a cache of what `sparana runs` shows and filters on, one SQLite file in the runs folder.

<root>/.runs-index.sqlite3 holds, for each finished run or sweep folder, its record (spec, phase,
parent, dataset, created, layer formats, sparsity, summary metrics, provenance) and the signature of
its files (name, size and modification time of each) when they were read. The folders stay the
only truth; the index is checked against them on every read:
- the runs folder is listed and each run folder's files are stat'ed; a folder that is new, renamed
  or whose signature differs is read again, and the entries of folders that are gone are dropped;
- unfinished (.tmp) folders and damaged runs are never cached: an unfinished run's state depends on
  a live lock, and a damaged one is read again until it is mended or removed;
- a folder with a file younger than RACY_SECONDS when it was indexed is read once more next time
  (a file changed again within one timestamp tick, at the same size, would otherwise go unseen);
- an index that SQLite finds damaged, that is missing, that is a symbolic link (planted: writing it
  would write outside the runs folder), or that another format or sparana version wrote is rebuilt
  from the folders; an entry that fails its checksum or its types is read again.
An index that cannot be written (a read-only folder, a writer holding it too long) is left as it
is: the folders are read instead. Writers hold an flock on the runs folder itself, so no two
commands write it at once (readers rely on SQLite's own locking), and a rebuilt index replaces the
old file in one os.replace. Deleting the file loses nothing: the next `sparana runs` rebuilds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sparana_cli import __version__
from sparana_cli.store.names import SPEC_FILE, TMP_SUFFIX
from sparana_cli.store.record import RunRecord, read_run
from sparana_cli.store.runstate import COMPLETED, STATUS_FILE
from sparana_cli.ui import _jsonable

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's own locking alone keeps writers apart
    fcntl = None

INDEX_FILE = ".runs-index.sqlite3"
FORMAT = f"2 sparana {__version__}"  # another format or version: the index is rebuilt
RACY_SECONDS = 2.0  # coarser than any file system's timestamp tick (FAT: 2 s)
WAIT_SECONDS = 5.0  # for SQLite's and the writers' lock; past it the index is left as it is
SCHEMA = ("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
          "CREATE TABLE IF NOT EXISTS runs (name TEXT PRIMARY KEY, signature TEXT NOT NULL, racy INTEGER NOT NULL, "
          "record TEXT NOT NULL, spec TEXT NOT NULL, crc INTEGER NOT NULL)")
# RunRecord fields an entry's record holds (besides the folder and the spec), with the types they must have
FIELDS = {"status": (dict,), "message": (str,), "phase": (str,), "parent": (str,), "dataset": (str,),
          "created": (str,), "formats": (list,), "sparsity": (float, int, type(None)), "attrs": (dict,),
          "provenance": (dict, type(None))}


@dataclass(frozen=True)
class Seen:
    """A finished folder's files as stat'ed before it is read: their signature, and whether one is too young to trust."""

    signature: str
    racy: bool


@dataclass(frozen=True)
class Entry:
    signature: str
    racy: bool
    record: str  # FIELDS as JSON
    spec: str  # the spec as JSON, decoded only when asked for (most of an entry, and only --where reads it)
    crc: int  # of record and spec


def scan(root: Path) -> dict[str, Seen | None]:
    """The run and sweep folders in root (symbolic links left out) by name: Seen for a finished one, None for a .tmp."""
    found = {}
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_symlink() or not entry.is_dir():
                continue
            files = _files(Path(entry.path))
            if files is None or not {SPEC_FILE, STATUS_FILE} & {name for name, is_file, *_ in files if is_file}:
                continue
            found[entry.name] = None if entry.name.endswith(TMP_SUFFIX) else _seen(files)
    return found


def _files(folder: Path) -> list[tuple] | None:
    """(name, is a file, size, mtime in ns) of each entry of the folder; None when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            out = []
            for entry in entries:
                try:
                    info = entry.stat()
                    out.append((entry.name, entry.is_file(), info.st_size, info.st_mtime_ns))
                except OSError:  # a dangling link: its name alone
                    out.append((entry.name, False, -1, -1))
            return out
    except OSError:
        return None


def _seen(files: list[tuple]) -> Seen:
    newest = max((mtime for *_, mtime in files), default=0)
    signature = "/".join(f"{name}:{size}:{mtime}" for name, _, size, mtime in sorted(files))
    return Seen(signature, newest > time.time_ns() - RACY_SECONDS * 1e9)


def records(root: Path, *, specs: bool = True, write: bool = True) -> list[RunRecord]:
    """A record of every run and sweep folder in root: from the index where it still matches, else read (and indexed).

    Records from the index have no arrays or model attributes, and of the provenance only `sweep`;
    with specs=False their spec is None too. write=False leaves the index as it is (a command that
    may yet be refused writes nothing into the runs folder).
    """
    found = scan(root)
    stored, damaged = _load(root / INDEX_FILE)
    out, fresh, stale = [], {}, []
    for name, seen in found.items():
        record = _decode(root / name, stored.get(name), seen, specs=specs)
        if record is None:
            record = read_run(root / name)
            if seen is not None and _cacheable(record):
                fresh[name] = (seen, record)
            elif name in stored:  # now damaged, or unfinished again
                stale.append(name)
        out.append(record)
    gone = [name for name in stored if name not in found]
    if write and (fresh or gone or stale or (damaged and found)):
        _write(root, fresh, gone, stale, damaged=damaged)
    return out


def add(folder: Path) -> None:
    """Index one finished folder (a run or sweep that has just finished); nothing when it cannot be."""
    folder = Path(folder)
    files = _files(folder)
    if files is None:
        return
    seen = _seen(files)
    record = read_run(folder)
    if _cacheable(record):
        _write(folder.parent, {folder.name: (seen, record)}, [], [])


def drop(root: Path, names: list[str]) -> None:
    """Forget the entries of removed folders (a later read would drop them too)."""
    _write(root, {}, [], names)


def _cacheable(record: RunRecord) -> bool:
    return record.finished and record.state == COMPLETED


# -- entries ---------------------------------------------------------------------------------------


def _encode(record: RunRecord) -> tuple[str, str] | None:
    """An entry's record and spec: JSON (NumPy values as numbers and lists); None if they do not fit in JSON."""
    fields = {name: getattr(record, name) for name in FIELDS}
    fields["provenance"] = None if record.provenance is None else {"sweep": record.sweep}
    try:
        return tuple(json.dumps(_jsonable(value), default=str, allow_nan=False, separators=(",", ":"))
                     for value in (fields, record.spec))
    except (TypeError, ValueError):
        return None


def _crc(record: str, spec: str) -> int:
    return zlib.crc32(spec.encode(), zlib.crc32(record.encode()))


def _decode(folder: Path, entry: Entry | None, seen: Seen | None, *, specs: bool) -> RunRecord | None:
    """The record an entry holds, if the entry is for these very files and intact; None means: read the folder."""
    if entry is None or seen is None or entry.racy or entry.signature != seen.signature:
        return None
    if not isinstance(entry.record, str) or not isinstance(entry.spec, str) or _crc(entry.record, entry.spec) != entry.crc:
        return None
    try:
        fields = json.loads(entry.record)
        spec = json.loads(entry.spec) if specs else None
    except ValueError:
        return None
    if not isinstance(fields, dict) or fields.keys() != FIELDS.keys() or not isinstance(spec, (dict, type(None))) or \
            any(not isinstance(fields[name], kinds) or isinstance(fields[name], bool) for name, kinds in FIELDS.items()):
        return None
    return RunRecord(folder, True, COMPLETED, spec=spec, **fields)


# -- the SQLite file -------------------------------------------------------------------------------


def _load(path: Path) -> tuple[dict[str, Entry], bool]:
    """The stored entries by name, and whether the file needs rebuilding (missing, damaged, another format, a link)."""
    if path.is_symlink() or not path.is_file():  # a planted link is never read or written through: it is replaced
        return {}, True
    try:
        with contextlib.closing(_connect(path, create=False)) as db:
            if dict(db.execute("SELECT key, value FROM meta")).get("format") != FORMAT:
                return {}, True
            rows = db.execute("SELECT name, signature, racy, record, spec, crc FROM runs").fetchall()
    except sqlite3.Error as err:
        return {}, not _busy(err)
    return {row[0]: Entry(*row[1:]) for row in rows if isinstance(row[0], str)}, False


def _write(root: Path, fresh: dict[str, tuple[Seen, RunRecord]], gone: list[str], stale: list[str], *,
           damaged: bool = False) -> None:
    """Store fresh entries, drop stale ones and those of folders still gone, holding the writers' lock.

    A failure (a read-only folder, a lock held too long) leaves the index as it is.
    """
    rows = [(name, seen.signature, int(seen.racy), *texts, _crc(*texts))
            for name, (seen, record) in fresh.items() if (texts := _encode(record)) is not None]
    path = root / INDEX_FILE
    gone = [name for name in gone if not (root / name).is_dir()]
    try:
        with _writers_lock(root) as held:
            for attempt in (1, 2) if held else ():
                try:
                    if damaged or not _current(path):
                        _replace_with_empty(path)
                    with contextlib.closing(_connect(path, create=False)) as db, db:
                        db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)", rows)
                        db.executemany("DELETE FROM runs WHERE name = ?", [(name,) for name in stale + gone])
                    return
                except sqlite3.Error as err:
                    if _busy(err):
                        return
                    damaged = True  # found damaged while writing: rebuilt once from what this command read
    except (OSError, sqlite3.Error):
        return


def _current(path: Path) -> bool:
    """Whether the file is an index of this format that SQLite can read (a symbolic link never is: it is replaced)."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with contextlib.closing(_connect(path, create=False)) as db:
            return dict(db.execute("SELECT key, value FROM meta")).get("format") == FORMAT
    except sqlite3.Error:
        return False


def _replace_with_empty(path: Path) -> None:
    """A new empty index in place of the file, in one step; a journal left by a crashed writer goes with the old one."""
    new = path.with_name(f"{path.name}.{os.getpid()}.new")
    new.unlink(missing_ok=True)
    try:
        with contextlib.closing(sqlite3.connect(new)) as db, db:
            for statement in SCHEMA:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
        for suffix in ("-journal", "-wal", "-shm"):  # only the lock's holder writes: any of these is left from a crash
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        os.replace(new, path)
    finally:
        new.unlink(missing_ok=True)


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    uri = path.absolute().as_uri() + ("" if create else "?mode=rw")
    return sqlite3.connect(uri, uri=True, timeout=WAIT_SECONDS)


def _busy(err: sqlite3.Error) -> bool:
    return getattr(err, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(err)


@contextlib.contextmanager
def _writers_lock(root: Path) -> Iterator[bool]:
    """Hold the index writers' flock on the runs folder itself (True), or give up after WAIT_SECONDS (False)."""
    if fcntl is None:
        yield True
        return
    handle = os.open(root, os.O_RDONLY)  # a folder can be flock'ed: no lock file beside the index
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.01)
        yield True
    finally:
        os.close(handle)  # releases the lock
