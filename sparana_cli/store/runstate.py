"""The life of a run folder: status.json (running -> completed / failed / interrupted) and the writer's lock.

status.json is replaced atomically, never edited in place. The process writing a run holds an
flock on the folder's `lock` file; the kernel releases it when that process ends in any way,
SIGKILL included, so an unfinished folder whose status says "running" but whose lock is free
belongs to a process that was killed. Such a folder can be resumed.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import IO

from sparana_cli.errors import RunFailed, UserError
from sparana_cli.files import write_text_atomic

try:
    import fcntl
except ImportError:  # not POSIX: no locks, so a live run cannot be told from a killed one
    fcntl = None

STATUS_FILE, LOCK_FILE = "status.json", "lock"
RUNNING, COMPLETED, FAILED, INTERRUPTED = "running", "completed", "failed", "interrupted"
KILLED = "killed"  # never written: an unfinished folder whose writer is gone without saying why
STATES = (RUNNING, COMPLETED, FAILED, INTERRUPTED)


def now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def write_status(folder: Path, state: str, **fields) -> dict:
    """Set the folder's state and any other fields, keeping the fields already there."""
    assert state in STATES, state
    status = read_status(folder, strict=False) or {}
    status.update(fields)
    status.update(state=state, updated=now())
    write_text_atomic(Path(folder) / STATUS_FILE, json.dumps(status, indent=2) + "\n")
    return status


def mark_failed(folder: Path, message: str) -> None:
    """Record a run as failed when it can be; on a full disk even status.json may not fit, and the error is what counts."""
    if Path(folder).is_dir():
        try:
            write_status(folder, FAILED, message=message)
        except (OSError, RunFailed):
            pass


def start_fields(phase: str) -> dict:
    """Who is writing the run: recorded in status.json when a process takes a folder."""
    return {"phase": phase, "pid": os.getpid(), "host": socket.gethostname(), "started": now()}


def read_status(folder: Path, *, strict: bool = True) -> dict | None:
    """status.json as a dict; None when absent. A damaged file is a UserError (strict) or None."""
    path = Path(folder) / STATUS_FILE
    try:
        status = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if strict:
            raise UserError(f"{path}: unreadable run status ({err.__class__.__name__}: {err})") from None
        return None
    if not isinstance(status, dict) or status.get("state") not in STATES:
        if strict:
            raise UserError(f"{path}: not a run status (expected a JSON object with a state of {', '.join(STATES)})")
        return None
    return status


def position(epoch: int, step: int, epochs: int) -> str:
    """Where a training run stands, in words: "after epoch 2/10" or "in epoch 3/10 after step 40"."""
    return f"in epoch {epoch + 1}/{epochs} after step {step}" if step else f"after epoch {epoch}/{epochs}"


def take_lock(folder: Path) -> IO | None:
    """Lock the folder for this process (an open file: closing it, or dying, releases the lock); None if held."""
    try:
        handle = open(Path(folder) / LOCK_FILE, "a")
    except OSError as err:
        raise UserError(f"{folder}: cannot lock the run folder ({err.strerror or err})") from None
    if fcntl is None:
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def is_locked(folder: Path) -> bool:
    """Whether a live process holds the folder's lock (False when there is no lock file)."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return False
    try:
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def effective_state(folder: Path, status: dict | None, *, finished: bool) -> str:
    """completed for a finished folder; for an unfinished one running (locked), its recorded end, or killed."""
    if finished:
        return COMPLETED
    if is_locked(folder):
        return RUNNING
    state = (status or {}).get("state")
    return state if state in (INTERRUPTED, FAILED) else KILLED
