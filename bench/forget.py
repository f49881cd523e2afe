"""Forgetting against retraining without the class: seconds side by side, and the ratio.

    python -m bench.forget --run TRAINED_RUN [--classes 0,3,7] [--repeats 3] [--device cpu|gpu|auto]

For each class, every repeat times the retrain comparator (the run's spec trained from scratch on
the training data without the class, exactly what `sparana forget --compare retrain` runs) and
then `sparana forget`'s forgetting with each preset, one after the other, so that they share the
machine's state; the table gives medians and the median of the per-repeat ratios. Presets:

  default   the forget section's defaults (--score probe scored once, --repair features, --overshoot 2)
  stepwise  --rescore every_step --repair sgd --step-growth 1 --overshoot 4 (the default before issue 24:
            re-scores every step, SGD repair rounds)
  output    --score taylor_disc --samples 10 --overshoot 2 --rescore every_step --repair none (the default
            before that: cuts the read-out only)

On a machine shared with other work the absolute seconds swing; only ratios from one repeat mean
anything. BLAS threads change the ratio too (retraining's large products gain more from a second
core than forgetting's small ones): the table says how many OpenBLAS may use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench.common import interleaved
from sparana_cli.fitting import device_splits
from sparana_cli.phases.evaluate import load_run_with_data
from sparana_cli.phases.forget import chosen_layers, forget_network, resolve_settings
from sparana_cli.phases.forget_compare import retrain
from sparana_cli.store import runs
from sparana_cli.ui import Console, table

PRESETS = {"default": {}, "stepwise": {"rescore": "every_step", "repair": "sgd", "step_growth": 1.0, "overshoot": 4.0},
           "output": {"score": "taylor_disc", "samples": 10, "overshoot": 2.0, "rescore": "every_step",
                      "repair": "none"}}


class Quiet(Console):
    """A console that prints nothing (the retraining's epoch lines)."""

    def say(self, text: str = "") -> None:
        pass

    def warn(self, text: str) -> None:
        pass


def forget_rows(run: Path, classes: list[int], repeats: int, device: str = "auto") -> list[dict]:
    """One row per class: median seconds of retraining and of each preset's forgetting, and their ratios."""
    console = Quiet()
    spec, parent, _, dataset, backend = load_run_with_data(run, console, device)
    splits = device_splits(dataset, backend)

    def forgetting(target: int, options: dict) -> float:
        settings = resolve_settings(spec.forget, {"target_class": target, **options})
        _, _, _, seconds, *_ = forget_network(parent.copy(), settings, chosen_layers(settings, parent.n_layers), dataset.x_train,
                                     dataset.y_train, dataset.x_val[dataset.y_val == target], target, spec.seed,
                                     backend, lambda removed, stop_df, repaired=False: None, train_cfg=spec.train,
                                     loss=spec.model.loss)
        return seconds

    forgetting(classes[0], {})  # warm-up: first-call costs (BLAS buffers, imports) are not the method's
    rows = []
    for target in classes:
        def retraining(target=target) -> float:
            started = time.perf_counter()
            retrain(spec, dataset, backend, splits, target, console)
            backend.synchronize()
            return time.perf_counter() - started

        cases = {"retrain": retraining, **{name: (lambda options=options, target=target: forgetting(target, options))
                                           for name, options in PRESETS.items()}}
        times = interleaved(cases, repeats, f"forget class {target}")
        medians = {name: statistics.median(t) for name, t in times.times.items()}
        ratios = {name: times.ratios("retrain", name) for name in PRESETS}
        rows.append({"class": target, "retrain_s": medians["retrain"], "rounds": times,
                     **{f"{name}_s": medians[name] for name in PRESETS},
                     **{f"{name}_ratios": ratios[name] for name in PRESETS},
                     **{f"{name}_ratio": statistics.median(ratios[name]) for name in PRESETS}})
    return rows


def format_rows(rows: list[dict]) -> str:
    headers = ["class", "retrain s", *(f"{n} s" for n in PRESETS), *(f"retrain / {n}" for n in PRESETS)]
    body = [[r["class"], round(r["retrain_s"], 2), *(round(r[f"{n}_s"], 3) for n in PRESETS),
             *(round(r[f"{n}_ratio"], 1) for n in PRESETS)] for r in rows]
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "all cores")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"{table(headers, body)}\nmedians (ratios: median of the per-repeat ratios); OpenBLAS threads: {threads}; "
            f"load average now: {load}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a trained run (folder)")
    parser.add_argument("--classes", default="0,3,7", help="classes to forget, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    args = parser.parse_args(argv)
    run = runs.resolve_run(Path("."), args.run)
    rows = forget_rows(run, [int(c) for c in args.classes.split(",")], args.repeats, args.device)
    print(format_rows(rows))


if __name__ == "__main__":
    main()
