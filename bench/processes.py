"""Running `sparana` as a user does: a new process per command, timed from its start to its exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sparana_argv() -> list[str]:
    """The installed `sparana` console script next to this interpreter, else `python -m sparana_cli`."""
    script = Path(sys.executable).parent / "sparana"
    if script.exists():
        return [str(script)]
    found = shutil.which("sparana")
    return [found] if found else [sys.executable, "-m", "sparana_cli"]


def environment(**extra: str) -> dict:
    """The environment of a timed command: this one, without profiling, with the source tree importable."""
    env = {k: v for k, v in os.environ.items() if k != "SPARANA_PROFILE"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def run(argv: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a command to its end; a failure raises with its stderr (a benchmark of a failing command means nothing)."""
    done = subprocess.run(argv, cwd=cwd, env=env or environment(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return done


def wall_seconds(argv: list[str], *, env: dict | None = None, cwd: Path = ROOT) -> float:
    """Wall seconds of one run of the command, from before its process is created to after it exits."""
    start = time.perf_counter()
    run(argv, env=env, cwd=cwd)
    return time.perf_counter() - start


def sparana(*args) -> list[str]:
    return [*sparana_argv(), *map(str, args)]


def python(*args) -> list[str]:
    return [sys.executable, *map(str, args)]
