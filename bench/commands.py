"""Whole commands as a user times them: `sparana forget --class K` against `sparana train` of the retrain comparator.

Each is a new process, timed from its start to its exit (imports, Numba, data and model load,
the work, the run folder written). The reference is `sparana train` of the parent run's own
spec.yaml, same data, same settings, which is what retraining costs a user; it trains on all
ten classes, the comparator inside `sparana forget --compare retrain` on nine, so the reference
is about a tenth longer than that comparator's training. Every round times one retraining, then
forgets every class once; each class's ratio is the median over rounds of (that round's
retraining / that round's forgetting).

The forgetting runs with its evaluation off (`--evaluate none`); the default evaluation's own cost
is one extra row, from one process with it on.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from bench.common import interleaved, row, spread
from bench.processes import environment, run, sparana, wall_seconds

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
QUICK_OVERRIDES = ["train.epochs=1", "model.hidden=[32,16]"]


def evaluation_off() -> list[str]:
    """The options that turn the forget command's evaluation off."""
    return ["--evaluate", "none"]


def train_parent(config: Path, overrides: list[str], root: Path) -> Path:
    done = run(sparana("train", config, *overrides, "--runs-dir", root, "--json"))
    return Path(json.loads(done.stdout)["run"])


def profile_line(parent: Path, target: int, options: list[str], root: Path) -> str:
    """`sparana --profile forget` once: its sections, largest first, as 'name seconds' items."""
    done = run(sparana("--profile", "forget", "--class", target, "--run", parent, *options, "--runs-dir", root, "--json"))
    lines = done.stderr[done.stderr.index("profile: where the wall time went"):].splitlines()[1:]
    items = [re.match(r"^  (.+?)\s+(\d+\.\d+) s", line) for line in lines]
    return ", ".join(f"{m.group(1)} {float(m.group(2)):.2f}" for m in items if m and float(m.group(2)) >= 0.01)


def command_rows(label: str, config: Path, *, classes: list[int], repeats: int, overrides: list[str],
                 target: str) -> list[dict]:
    """One row per class: forget as a process against retraining as a process, paired per round."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        parent = train_parent(config, overrides, root)
        off = evaluation_off()
        env = environment()

        def forget(k: int, options: list[str]) -> float:
            return wall_seconds(sparana("forget", "--class", k, "--run", parent, *options, "--runs-dir", root), env=env)

        cases = {"retrain": lambda: wall_seconds(sparana("train", parent / "spec.yaml", "--runs-dir", root), env=env),
                 **{f"forget {k}": (lambda k=k: forget(k, off)) for k in classes}}
        times = interleaved(cases, repeats, f"whole commands, {label}")
        with_evaluation = wall_seconds(sparana("forget", "--class", classes[0], "--run", parent, "--runs-dir", root), env=env)
        breakdown = profile_line(parent, classes[0], off, root)
    retrain = f"sparana train {spread(times['retrain'])}"
    rows = [row(f"W forget class {k} vs retrain, {label}", f"process wall time ({' '.join(off)})",
                f"{spread(times[f'forget {k}'])}", retrain, target=target,
                ratios=times.ratios("retrain", f"forget {k}"), rounds=times) for k in classes]
    rows.append(row(f"W forget class {classes[0]}, {label}, default evaluation", "process wall time, one run",
                    f"{with_evaluation:.2f} s", f"without it {spread(times[f'forget {classes[0]}'])}",
                    verdict="info: what the evaluation adds"))
    rows.append(row(f"W forget class {classes[0]}, {label}, where the time went", "sparana --profile, one run",
                    "", "", verdict=f"info: {breakdown}"))
    return rows


def whole_command_rows(*, quick: bool = False, repeats: int = 3) -> list[dict]:
    if quick:
        return command_rows("embedded MNIST sample (quick)", CONFIGS / "mnist.yaml", classes=[0], repeats=1,
                            overrides=QUICK_OVERRIDES, target=">= 5")
    rows = command_rows("embedded MNIST sample", CONFIGS / "mnist.yaml", classes=list(range(10)), repeats=repeats,
                        overrides=[], target=">= 5")
    if FASHION_MNIST.is_dir():
        rows += command_rows("Fashion-MNIST", CONFIGS / "fashion-mnist.yaml", classes=list(range(10)), repeats=repeats,
                             overrides=[], target=">= 40")
    else:
        rows.append(row("W forget vs retrain, Fashion-MNIST", "", "", verdict=f"not available: no {FASHION_MNIST}"))
    return rows
