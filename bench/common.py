"""Timing, the matmul peak, rows and the table: what every section of the benchmark shares."""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Callable

import numpy as np

from sparana_cli.ui import table

HEADERS = ["row", "measure", "sparana", "reference", "ratio", "target", "verdict"]


def interleaved(cases: dict[str, Callable[[], float | None]], repeats: int, label: str = "") -> dict[str, list[float]]:
    """Seconds per call of each case, the cases taking turns in every round (so load hits all alike).

    A case may return its own measured seconds (to leave set-up out); otherwise its whole call is timed.
    Progress goes to stderr, one line per round.
    """
    times: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(repeats):
        print(f"{label or 'timing'}: round {round_ + 1}/{repeats}", file=sys.stderr, flush=True)
        for name, case in cases.items():
            start = time.perf_counter()
            inner = case()
            times[name].append(inner if inner is not None else time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
    """'1.23 s (1.10-1.40)': the median and the range over repeats."""
    med = median(values) * scale
    if len(values) == 1:
        return f"{med:.{digits}g} {unit}"
    return f"{med:.{digits}g} {unit} ({min(values) * scale:.{digits}g}-{max(values) * scale:.{digits}g})"


def matmul_gflops(size: int = 2048, calls: int = 3) -> float:
    """The best float32 GFLOP/s of a few size x size matmuls through NumPy's BLAS (the one Sparana uses)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size), dtype=np.float32), rng.random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def row(name: str, measure: str, sparana: str, reference: str = "", ratio: float | None = None,
        target: str = "", verdict: str | None = None) -> dict:
    """A table row; with a target like '<= 0.8' or '>= 200' and no verdict, the verdict says whether the ratio meets it."""
    if verdict is None:
        verdict = judge(ratio, target) if target and ratio is not None else "info"
    return {"row": name, "measure": measure, "sparana": sparana, "reference": reference,
            "ratio": ratio, "target": target, "verdict": verdict}


def judge(ratio: float, target: str) -> str:
    op, value = target.split()
    ok = ratio <= float(value) if op == "<=" else ratio >= float(value)
    return "met" if ok else "missed"


def unavailable(name: str, why: str) -> dict:
    return row(name, "", "", verdict=f"not available: {why}")


def render(rows: list[dict]) -> str:
    """One plain table; keys beyond the standard ones (from another section's rows) go into the verdict column."""
    cells = []
    for r in rows:
        extra = "; ".join(f"{k}={v}" for k, v in r.items() if k not in HEADERS)
        ratio = r.get("ratio")
        values = [r.get(h, "") for h in HEADERS]
        values[4] = "" if ratio is None else (f"{ratio:.3g}" if isinstance(ratio, float) else str(ratio))
        values[6] = "; ".join(v for v in (str(values[6] or ""), extra) if v)
        cells.append([str(v) for v in values])
    return table(HEADERS, cells)


def machine_line(threads: int) -> str:
    """What the figures were measured on, and how busy the machine was."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, {threads} threads, load average {load}; NumPy {np.__version__}"
