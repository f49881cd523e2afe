"""Sweeps: KEY=V1,V2,... axes, their cartesian product, and each point run as its own sparana process.

A point runs `python -m sparana_cli ARGV --runs-dir ROOT --json` in a child process, on this
machine (a pool of --workers) or as a task on a Dask distributed cluster (--scheduler). Each run
so has its own memory, signals and exit status; a crash costs one row of the sweep, not the sweep.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from sparana_cli.errors import UserError

_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_SCHEDULER = re.compile(r"^(tcp|tls|inproc|ucx)://[^\s/]+$")
MAX_POINTS = 10_000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# -- axes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One swept key and its values, as YAML texts (`train.lr` -> ("0.01", "0.1"))."""

    key: str
    values: tuple[str, ...]


def parse_axes(items) -> list[Axis]:
    """`key=a,b,c` (values read later as YAML; commas inside [] or {} do not split) and `key=A..B` (integers, inclusive)."""
    axes, seen, count = [], set(), 1
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise UserError(f"axis {item!r}: expected KEY=V1,V2,... or KEY=A..B, e.g. seed=1..3 train.lr=0.01,0.1")
        if key in seen:
            raise UserError(f"axis {key}: given twice")
        seen.add(key)
        match = _RANGE.match(text)
        if match:
            low, high = int(match[1]), int(match[2])
            if high < low:
                raise UserError(f"axis {key}: empty range {text} (write A..B with A <= B)")
            count *= high - low + 1
            _check_count(count)  # before the range is written out
            values = tuple(str(v) for v in range(low, high + 1))
        else:
            values = _split_values(key, text)
            count *= len(values)
            _check_count(count)
        axes.append(Axis(key, values))
    return axes


def _check_count(points: int) -> None:
    if points > MAX_POINTS:
        raise UserError(f"the sweep has {points} points; more than {MAX_POINTS} is surely a typo")


def _split_values(key: str, text: str) -> tuple[str, ...]:
    values, depth, current, quote = [], 0, "", None
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(current)
            current = ""
            continue
        current += ch
    values.append(current)
    if depth or quote:
        raise UserError(f"axis {key}: unbalanced brackets or quotes in {text!r}")
    if any(not v.strip() for v in values):
        raise UserError(f"axis {key}: an empty value in {text!r}")
    return tuple(v.strip() for v in values)


def expand(axes: list[Axis]) -> list[dict[str, str]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    _check_count(math.prod(len(axis.values) for axis in axes))
    return [dict(zip((a.key for a in axes), combo)) for combo in itertools.product(*(a.values for a in axes))]


# -- commands -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepCommand:
    """How a sparana command runs as one point of a sweep (the table of commands lives in cli/sweep.py)."""

    argv: Callable[[str, list[str]], list[str]]  # (TARGET, KEY=VALUE items) -> the command's arguments
    check: Callable[[str, list[str], Path], str]  # refuse a bad point (UserError) before anything runs; its run name
    columns: tuple[str, ...]  # keys of the command's --json summary copied into the CSV
    headline: tuple[str, ...] = ()  # of those, the ones summary.csv averages over seeds (default: the first)


# -- one point ------------------------------------------------------------------------------------

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def run_point(argv: list[str], root: str, cwd: str, env: dict[str, str]) -> dict:
    """Run `python -m sparana_cli ARGV --runs-dir ROOT --json` in cwd; its exit code, JSON summary and error line.

    Runs wherever it is called: in a local pool thread or in a Dask worker.
    """
    package_parent = str(Path(__file__).resolve().parent.parent)  # found even when sparana is not installed
    child_env = {**os.environ, **env}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "sparana_cli", *argv, "--runs-dir", root, "--json"]
    try:
        proc = subprocess.Popen(command, cwd=cwd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)  # its own session: signals come only from us
    except OSError as err:
        return {"exit_code": None, "summary": {}, "message": f"cannot start {sys.executable} in {cwd}: {err}"}
    with _LIVE_LOCK:
        _LIVE.add(proc)
    try:
        out, err = proc.communicate()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    try:
        summary = json.loads(out) if out.strip() else {}
    except ValueError:
        summary = {}
    lines = [line for line in err.splitlines() if line.strip()]
    message = lines[-1] if proc.returncode and lines else ""
    return {"exit_code": proc.returncode, "summary": summary if isinstance(summary, dict) else {}, "message": message}


def interrupt_points(signum: int = signal.SIGINT) -> None:
    """Pass an interrupt on to every point running in this process's pool."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


# -- executors ------------------------------------------------------------------------------------


def run_local(jobs: list[list[str]], root: str, cwd: str, workers: int, stop, *,
              env: dict[str, str] | None = None) -> Iterator[tuple[int, dict]]:
    """Run the jobs on this machine, `workers` at a time; yield (index, outcome) as each ends.

    With several workers each child gets an equal share of the cores for its BLAS threads,
    unless the caller's environment already says how many.
    """
    share = str(max(1, (os.cpu_count() or 1) // workers))
    env = {**(env or {}), **{var: share for var in THREAD_VARIABLES if workers > 1 and var not in os.environ}}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_point, argv, root, cwd, env): i for i, argv in enumerate(jobs)}
        yield from _as_they_end(futures, stop)


def run_on_cluster(jobs: list[list[str]], root: str, cwd: str, client, stop, *,
                   tag: str, env: dict[str, str] | None = None) -> Iterator[tuple[int, dict]]:
    """Submit the jobs through `client` (connect's, closed at the end); yield (index, outcome) as each ends.

    Workers need sparana installed and the same paths (runs folder, spec, data) on a shared file system.
    """
    with client:
        futures = {client.submit(run_point, argv, root, cwd, env or {}, key=f"sparana-{tag}-{i}", pure=False): i
                   for i, argv in enumerate(jobs)}
        yield from _as_they_end(futures, stop)


def check_scheduler(address: str) -> None:
    if not _SCHEDULER.match(address):
        raise UserError(f"--scheduler {address}: expected an address like tcp://HOST:8786")


def connect(address: str):
    """A dask.distributed Client for the scheduler at address, or a UserError."""
    check_scheduler(address)
    try:
        from distributed import Client
    except ImportError:
        raise UserError("--scheduler needs dask.distributed: pip install 'sparana-cli[distributed]'") from None
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"--scheduler {address}: cannot connect ({reason})") from None


def _as_they_end(futures: dict, stop) -> Iterator[tuple[int, dict]]:
    """Poll futures (concurrent or Dask); when stop() turns true, cancel those not started."""
    pending, cancelling = dict(futures), False
    while pending:
        ended = [f for f in pending if f.done()]
        for future in ended:
            index = pending.pop(future)
            if future.cancelled():
                yield index, {"exit_code": None, "summary": {}, "message": "cancelled before it started"}
                continue
            try:
                yield index, future.result()
            except Exception as err:  # a worker lost, a task that could not run: that point's row says so
                text = " ".join(str(err).split())[:300]
                yield index, {"exit_code": None, "summary": {}, "message": f"{type(err).__name__}: {text}"}
        if stop() and not cancelling:
            cancelling = True
            for future in pending:
                future.cancel()
        if not ended:
            time.sleep(0.05)


STATUS_BY_EXIT = {0: "completed", 2: "refused", 3: "failed", 130: "interrupted"}


def outcome_status(outcome: dict) -> str:
    if outcome["exit_code"] is None:
        return "cancelled" if outcome["message"].startswith("cancelled") else "error"
    return STATUS_BY_EXIT.get(outcome["exit_code"], "error")
