"""P3: forgetting a class end to end vs retraining without it (the gold-standard comparator).

Trains configs/mnist.yaml (the seed model on the embedded MNIST sample) into a temporary runs
folder, then times `sparana forget`'s default forgetting against the retrain comparator, class by
class, in turns (bench/forget.py). The ratio is retrain time / forgetting time; the target is >= 50.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import row
from bench.forget import Quiet, forget_rows

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist.yaml"
QUICK_OVERRIDES = ["train.epochs=2", "model.hidden=[64,32,16]"]  # a harness check, not a figure


def forgetting_rows(*, quick: bool = False, repeats: int = 3, classes=tuple(range(10))) -> list[dict]:
    from sparana_cli.phases.train import train
    from sparana_cli.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(CONFIG, QUICK_OVERRIDES if quick else [])
        trained = train(spec, root=Path(tmp), console=Quiet())
        measured = forget_rows(Path(trained["run"]), [classes[0]] if quick else list(classes), 1 if quick else repeats)
    return [row(f"P3 forget class {r['class']} vs retrain", "seconds in one process (medians, taken in turns)",
                f"{r['default_s']:.3f} s forget", f"{r['retrain_s']:.2f} s retrain", target=">= 50",
                ratios=r["default_ratios"], rounds=r["rounds"])
            for r in measured]
