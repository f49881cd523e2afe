"""What the user sees: human text (stdout, or stderr under --json), progress bars and tables."""

from __future__ import annotations

import json
import math
import sys


class Console:
    """Routes human text away from stdout when stdout carries JSON."""

    def __init__(self, json_mode: bool = False):
        self.json_mode = json_mode
        self.human = sys.stderr if json_mode else sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.human, flush=True)

    def warn(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def result(self, summary: dict, human: str) -> None:
        """The command's outcome: JSON on stdout under --json, else the human text."""
        if self.json_mode:
            print(json.dumps(_jsonable(summary), indent=2))
        else:
            self.say(human)

    def bar(self, total: int, desc: str, unit: str = "img"):
        """A tqdm progress bar on stderr; silent when stderr is not a terminal (logs get one line per epoch)."""
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr,
                    leave=True, dynamic_ncols=True, disable=not sys.stderr.isatty())


def table(headers: list[str], rows: list[list]) -> str:
    """A plain aligned text table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows) for i in range(len(headers))]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in cells])


def percent(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _cell(value) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _jsonable(value):
    """Plain JSON types: NumPy scalars and arrays become numbers and lists, NaN becomes null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
