"""Start-up: `sparana --help`, `sparana runs --help` and `sparana runs` as processes, against `python -c "import click"`.

Every round runs each command `calls` times in turn and keeps each command's fastest call (a
process start is a few tens of milliseconds: one scheduling hiccup would be most of it). The
help rows' ratio is sparana over Click's own import (target <= 2); `sparana runs` lists a folder
of `n_runs` finished runs (copies of one small trained run), plain and with filters and a sort,
target under 0.5 s each: answered from the runs index. One more row says what the first listing
costs, the one that builds the index (timed once, after deleting it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bench.common import interleaved, row, spread
from bench.processes import environment, python, run, sparana, wall_seconds
from sparana_cli.store.runs_index import INDEX_FILE

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist.yaml"
SMALL = ["train.epochs=1", "model.hidden=[16]"]
WHERE = ["--where", "model.hidden=[16]", "--sort", "-test_accuracy"]


def fastest(argv: list[str], calls: int, env: dict) -> float:
    return min(wall_seconds(argv, env=env) for _ in range(calls))


def runs_folder(root: Path, n_runs: int) -> Path:
    """`root` holding n_runs finished runs: one trained run and copies of it under other names."""
    env = environment(SPARANA_RUNS=str(root))
    run(sparana("train", CONFIG, *SMALL, "--json"), env=env)
    (trained,) = [p for p in root.iterdir() if p.is_dir()]
    stem = trained.name
    for k in range(2, n_runs + 1):
        shutil.copytree(trained, root / f"{stem}-{k}")
    return root


def startup_rows(*, repeats: int, calls: int = 5, n_runs: int = 100) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        root = runs_folder(Path(tmp) / "runs", n_runs)
        env = environment(SPARANA_RUNS=str(root))
        first = sorted(p.name for p in root.iterdir() if p.is_dir())[0]
        cold = wall_seconds(sparana("runs"), env=env)  # builds the index
        cases = {
            "click": lambda: fastest(python("-c", "import click"), calls, env),
            "help": lambda: fastest(sparana("--help"), calls, env),
            "runs_help": lambda: fastest(sparana("runs", "--help"), calls, env),
            "runs": lambda: fastest(sparana("runs"), calls, env),
            "where": lambda: fastest(sparana("runs", *WHERE), calls, env),
            "parent": lambda: fastest(sparana("runs", "--parent", first, "--sort", "name"), calls, env),
        }
        times = interleaved(cases, repeats, "start-up")
        (root / INDEX_FILE).unlink()
        build = wall_seconds(sparana("runs"), env=env)
    click = f'python -c "import click" {spread(times["click"], "ms", 1e3)}'
    each = f"process wall time, fastest of {calls}"
    return [
        row("Start-up: sparana --help", each, spread(times["help"], "ms", 1e3), click, target="<= 2",
            ratios=times.ratios("help", "click"), rounds=times),
        row("Start-up: sparana runs --help", each, spread(times["runs_help"], "ms", 1e3), click, target="<= 2",
            ratios=times.ratios("runs_help", "click"), rounds=times),
        row(f"Start-up: sparana runs, {n_runs:,} runs", f"{each}; ratio = seconds", spread(times["runs"], "ms", 1e3),
            "goal: under 0.5 s", target="<= 0.5", ratios=times["runs"], rounds=times),
        row(f"Start-up: sparana runs {' '.join(WHERE)}, {n_runs:,} runs", f"{each}; ratio = seconds",
            spread(times["where"], "ms", 1e3), "goal: under 0.5 s", target="<= 0.5", ratios=times["where"],
            rounds=times),
        row(f"Start-up: sparana runs --parent RUN --sort name, {n_runs:,} runs", f"{each}; ratio = seconds",
            spread(times["parent"], "ms", 1e3), "goal: under 0.5 s", target="<= 0.5", ratios=times["parent"],
            rounds=times),
        row(f"Start-up: sparana runs, {n_runs:,} runs, no index yet", "process wall time, one call; ratio = seconds",
            f"{build * 1e3:.3g} ms", f"first call after copying the runs {cold * 1e3:.3g} ms", build,
            verdict="info: the first listing reads every folder and builds the index"),
    ]
