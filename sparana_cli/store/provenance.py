"""How a run was made: provenance.json, written when its folder is reserved and completed when it ends.

  argv              the command line (`sparana prune --method maav`, as the CLI received it)
  sparana_version   and `git` {commit, dirty} when sparana runs from a git checkout (else null)
  python, numpy, numba, h5py, cupy   versions (cupy null when not installed)
  host, platform, pid, started, ended, device (from model.h5 once the weights are written)
  data              {name, source, checksum} of the data the weights were computed from (from model.h5, at the end)
  sweep             the sweep folder that started the run, when one did ($SPARANA_SWEEP)
  sessions          later sessions of a resumed run: their argv, pid, host and start
  imported          a run made by `sparana import`: the model file, its format, size and sha256, and its metadata
Runs written before provenance existed have no provenance.json; readers treat it as absent.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import socket
import sys
from datetime import datetime
from pathlib import Path

from sparana_cli import __version__
from sparana_cli.files import write_text_atomic

PROVENANCE_FILE = "provenance.json"
SWEEP_ENV = "SPARANA_SWEEP"  # set by `sparana sweep` for the runs it starts
_COMMAND: list[str] = []  # the CLI's argv, once it says (see record_command)


def record_command(argv: list[str]) -> None:
    """Remember the command line of this process (the CLI calls this; sys.argv otherwise)."""
    _COMMAND[:] = [str(a) for a in argv]


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def collect() -> dict:
    """The provenance of a run started now by this process."""
    return {
        "argv": list(_COMMAND) or [Path(sys.argv[0]).name, *sys.argv[1:]],
        "cwd": os.getcwd(),
        "sparana_version": __version__,
        "git": git_state(),
        **versions(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "pid": os.getpid(),
        "started": now(),
        "ended": None,
        "device": None,
        "sweep": os.environ.get(SWEEP_ENV) or None,
    }


@functools.cache
def versions() -> dict:
    """Versions of Python and the libraries a result depends on, read from package metadata (nothing is imported)."""
    out = {"python": platform.python_version()}
    for key, dists in (("numpy", ("numpy",)), ("numba", ("numba",)), ("h5py", ("h5py",)),
                       ("scipy", ("scipy",)), ("cupy", ("cupy-cuda12x", "cupy-cuda11x", "cupy"))):
        out[key] = next((v for v in map(_version, dists) if v), None)
    return out


def _version(dist: str) -> str | None:
    from importlib import metadata  # here, not at the top: every command, --help included, loads this module

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def git_state() -> dict | None:
    """{commit, dirty} of the checkout sparana runs from; None when it is not one (an installed package)."""
    source = Path(__file__).resolve().parent.parent.parent
    if not any((p / ".git").exists() for p in (source, *source.parents)):
        return None
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(changes.strip())}


def write(folder: Path, record: dict) -> None:
    write_text_atomic(Path(folder) / PROVENANCE_FILE, json.dumps(record, indent=2) + "\n")


def read(folder: Path) -> dict | None:
    """provenance.json as a dict; None when absent (older runs) or unreadable.

    A field of the wrong shape (hand-edited, or written by something else) is left out and named in
    `damaged`, so that whoever shows the record never meets a list where a string belongs.
    """
    try:
        record = json.loads((Path(folder) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return well_formed(record) if isinstance(record, dict) else None


def _is_argv(value) -> bool:
    return isinstance(value, list) and all(isinstance(a, str) for a in value)


def _is_git(value) -> bool:
    return value is None or (isinstance(value, dict) and isinstance(value.get("commit"), str)
                             and isinstance(value.get("dirty", False), bool))


def _is_session(value) -> bool:
    return isinstance(value, dict) and _is_argv(value.get("argv", [])) and _is_git(value.get("git"))


_SHAPES = {"argv": _is_argv, "git": _is_git, "pid": lambda v: v is None or type(v) is int,
           "data": lambda v: v is None or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
           "sessions": lambda v: isinstance(v, list) and all(map(_is_session, v)),
           "imported": lambda v: isinstance(v, dict) and isinstance(v.get("file"), str)
           and isinstance(v.get("sha256"), str)}  # the model file an imported run was made from


def well_formed(record: dict) -> dict:
    """The record with every field of the wrong shape left out and named in `damaged` (absent when none was)."""
    bad = [k for k, v in record.items()
           if not (_SHAPES[k](v) if k in _SHAPES else v is None or isinstance(v, (str, int, float, bool)))]
    if not bad:
        return record
    return {**{k: v for k, v in record.items() if k not in bad}, "damaged": bad}


def start(folder: Path) -> None:
    """A fresh run folder: record who is making it."""
    write(folder, collect())


def resumed(folder: Path) -> None:
    """A later session of an unfinished run: add it to `sessions`."""
    record = read(folder)
    if record is None:
        return  # an older run: it never had provenance
    session = collect()
    record.setdefault("sessions", []).append({k: session[k] for k in ("argv", "host", "pid", "started", "git")})
    write(folder, record)


def note(folder: Path, **fields) -> None:
    """Add fields (e.g. `imported`) to a run's provenance while it is being written."""
    record = read(folder)
    if record is not None:
        write(folder, {**record, **fields})


def finish(folder: Path, device: str | None = None, data: dict | None = None) -> None:
    """The run ends: its end time, the device its weights were computed on and the data (name, source, checksum)."""
    record = read(folder)
    if record is None:
        return
    record["ended"] = now()
    if device:
        record["device"] = device
    if data:
        record["data"] = data
    write(folder, record)
