"""How a run was made: provenance.json, written when its folder is reserved and completed when it ends.

  argv              the command line (`sparana prune --method maav`, as the CLI received it)
  sparana_version   and `git` {commit, dirty} when sparana runs from a git checkout (else null)
  python, numpy, numba, h5py, cupy   versions (cupy null when not installed)
  host, platform, pid, started, ended, device (from model.h5 once the weights are written)
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
import subprocess
import sys
from datetime import datetime
from importlib import metadata
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
    """provenance.json as a dict; None when absent (older runs) or unreadable."""
    try:
        record = json.loads((Path(folder) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


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


def finish(folder: Path, device: str | None = None) -> None:
    """The run ends: its end time and the device its weights were computed on."""
    record = read(folder)
    if record is None:
        return
    record["ended"] = now()
    if device:
        record["device"] = device
    write(folder, record)
