"""Helpers shared by the claim tables: reading trained runs, mean ± std cells, markdown, small PNGs."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # scripts/: lq_vs_sce_table's names
from lq_vs_sce_table import MODELS  # noqa: E402  {(output, loss): "LQ" | "SCE"}

PNG_LIMIT = 200_000  # bytes: the docs' PNGs stay small


def dataset_label(name: str, source: str = "") -> str:
    """How a table names a data set: the embedded MNIST sample is not MNIST."""
    if name == "mnist" and "sample" in source:
        return "MNIST sample (5k)"
    return {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}.get(name, name)


def model_kind(spec) -> str | None:
    """LQ, SCE, or None for another output/loss pair."""
    return MODELS.get((spec.model.output, spec.model.loss))


def cell(values, scale: float = 100, digits: int = 2) -> str:
    """mean ± sample std of values (times scale); one value alone has no std."""
    values = [scale * float(v) for v in values]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def markdown(header: list[str], rows: list[list]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def figure(ncols: int, width: float = 4.2, height: float = 3.4) -> tuple[Figure, list]:
    """A figure with ncols panels side by side."""
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    return fig, list(fig.subplots(1, ncols, squeeze=False)[0])


def save_png(fig: Figure, path: str | Path, dpi: int = 80) -> Path:
    """Write fig as a PNG under PNG_LIMIT bytes (lowering the resolution until it fits)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fig.savefig(path, dpi=dpi)
        if path.stat().st_size < PNG_LIMIT or dpi <= 30:
            break
        dpi = int(dpi * 0.8)
    assert path.stat().st_size < PNG_LIMIT, f"{path}: {path.stat().st_size} bytes even at {dpi} dpi"
    return path


def table_command(doc: str, collect, tables, plot, nothing: str, found_in=lambda found: found) -> None:
    """A claim's table script: `SCRIPT RUNS_FOLDER OUT.png` prints its tables and writes its plot.

    collect(folder) reads the runs; tables(collected) is the markdown; plot(collected, png) draws;
    found_in(collected) is what must not be empty (else exit with "FOLDER: nothing").
    """
    if len(sys.argv) != 3:
        sys.exit(doc.strip().splitlines()[2].strip())
    folder, png = sys.argv[1:]
    collected = collect(Path(folder))
    if not found_in(collected):
        sys.exit(f"{folder}: {nothing}")
    print(tables(collected))
    plot(collected, png)
    print(f"plot: {png}", file=sys.stderr)
