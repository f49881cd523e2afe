"""Timing, the matmul peak, rows and the table: what every section of the benchmark shares."""

from __future__ import annotations

import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sparana_cli.ui import table

HEADERS = ["row", "measure", "sparana", "reference", "ratio", "target", "verdict", "rounds: load average; CPU s per wall s"]
DISAGREE = 0.2  # a row whose per-round ratios spread more than this around their median is flagged


@dataclass
class Rounds:
    """Seconds per case in every round, and how busy the machine was in each round.

    `load`: the 1-minute load average at the end of each round; `cpu_per_wall`: CPU seconds spent
    by this process and its finished children per wall second of the round (about the thread count
    when nothing else competes; less when the machine is shared).
    """

    times: dict[str, list[float]]
    load: list[float] = field(default_factory=list)
    cpu_per_wall: list[float] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        return self.times[name]

    def ratios(self, numerator: str, denominator: str) -> list[float]:
        """The paired ratio of two cases in every round: a slow round of one shows up in that round's ratio only."""
        return [a / b for a, b in zip(self.times[numerator], self.times[denominator])]

    def describe(self) -> str:
        return (f"load {' '.join(f'{x:.1f}' for x in self.load)}; "
                f"CPU/wall {' '.join(f'{x:.2f}' for x in self.cpu_per_wall)}")


def cpu_seconds() -> float:
    """CPU seconds used so far by this process (all threads) and its waited-for children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def interleaved(cases: dict[str, Callable[[], float | None]], repeats: int, label: str = "") -> Rounds:
    """Seconds per call of each case, the cases taking turns in every round (so load hits all alike).

    A case may return its own measured seconds (to leave set-up out); otherwise its whole call is timed.
    Progress goes to stderr, one line per round.
    """
    rounds = Rounds({name: [] for name in cases})
    for round_ in range(repeats):
        print(f"{label or 'timing'}: round {round_ + 1}/{repeats}", file=sys.stderr, flush=True)
        wall0, cpu0 = time.perf_counter(), cpu_seconds()
        for name, case in cases.items():
            start = time.perf_counter()
            inner = case()
            rounds.times[name].append(inner if inner is not None else time.perf_counter() - start)
        rounds.cpu_per_wall.append((cpu_seconds() - cpu0) / (time.perf_counter() - wall0))
        rounds.load.append(os.getloadavg()[0])
    return rounds


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
        target: str = "", verdict: str | None = None, *, ratios: list[float] | None = None,
        rounds: Rounds | None = None) -> dict:
    """A table row; with a target like '<= 0.8' or '>= 200' and no verdict, the verdict says whether the ratio meets it.

    `ratios`: one paired ratio per round; the row's ratio is their median, shown with their range,
    and a spread of more than DISAGREE around the median is flagged in the verdict. `rounds`:
    the timings they came from, whose load and CPU use per round are shown.
    """
    spread_note = ""
    if ratios:
        ratio = median(ratios)
        disagreement = (max(ratios) - min(ratios)) / ratio if ratio else 0.0
        if disagreement > DISAGREE:
            spread_note = f"FLAG: rounds disagree by {disagreement:.0%}"
    if verdict is None:
        verdict = judge(ratio, target) if target and ratio is not None else "info"
    verdict = "; ".join(v for v in (verdict, spread_note) if v)
    out = {"row": name, "measure": measure, "sparana": sparana, "reference": reference,
           "ratio": ratio, "target": target, "verdict": verdict, HEADERS[7]: rounds.describe() if rounds else ""}
    if ratios and len(ratios) > 1:
        out["ratio_range"] = (min(ratios), max(ratios))
    return out


def judge(ratio: float, target: str) -> str:
    op, value = target.split()
    ok = ratio <= float(value) if op == "<=" else ratio >= float(value)
    return "met" if ok else "missed"


def unavailable(name: str, why: str) -> dict:
    return row(name, "", "", verdict=f"not available: {why}")


NOTE_WIDTH = 40  # a verdict or rounds cell longer than this goes under the table as a numbered note


def render(rows: list[dict]) -> str:
    """One plain table, long verdicts and round details as numbered notes under it (the table stays readable).

    Keys beyond the standard ones (from another section's rows) go into the verdict.
    """
    cells, notes = [], []
    for r in rows:
        extra = "; ".join(f"{k}={v}" for k, v in r.items() if k not in HEADERS and k != "ratio_range")
        ratio = r.get("ratio")
        values = [r.get(h, "") for h in HEADERS]
        values[4] = "" if ratio is None else (f"{ratio:.3g}" if isinstance(ratio, float) else str(ratio))
        if "ratio_range" in r:
            values[4] += f" ({r['ratio_range'][0]:.3g}-{r['ratio_range'][1]:.3g})"
        values[6] = "; ".join(v for v in (str(values[6] or ""), extra) if v)
        values = [str(v) for v in values]
        for column in (6, 7):
            if len(values[column]) > NOTE_WIDTH:
                notes.append(f"[{len(notes) + 1}] {values[0]}, {HEADERS[column]}: {values[column]}")
                head = values[column].split(";")[0] if column == 6 else ""
                head = head if len(head) <= NOTE_WIDTH - 6 else ""
                values[column] = f"{head} [{len(notes)}]".strip()
        cells.append(values)
    return "\n".join([table(HEADERS, cells), *notes])


def machine_line(threads: int) -> str:
    """What the figures were measured on, and how busy the machine was."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs, {threads} threads, load average {load}; NumPy {np.__version__}"
