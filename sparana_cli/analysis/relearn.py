"""Few-shot relearning: how fast a forgotten class comes back when a few of its images are shown again.

A copy of the network is fine-tuned on a small seeded set (a few images of the class and more of
the others; masks held) and its accuracy on the class is read after every step. Knowledge that is
still in the network returns in a few steps; a model that never learned the class (the retrained
comparator) takes longer. Steps needed over the retrained model's steps is the Anamnesis index
(Chundawat et al. 2023): about 1 is as good as retraining, much less than 1 means the class was
only hidden. Fine-tuning on the other classes alone is no such test: it erases a class from any
network, the untouched parent included.
"""

from __future__ import annotations

import numpy as np

from sparana_cli.engine.backend import to_host
from sparana_cli.engine.metrics import predicted_classes
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import train_steps
from sparana_cli.seeding import generator


def few_shot_rows(y: np.ndarray, target: int, shots: int, others: int, seed: int, draw: int = 0) -> np.ndarray:
    """Seeded indices of `shots` rows of the target class and `others` rows of the other classes (host labels y)."""
    rng = generator(seed, f"few-shot-{draw}")
    on_target = np.flatnonzero(y == target)
    off_target = np.flatnonzero(y != target)
    picked = [rng.choice(on_target, min(shots, len(on_target)), replace=False),
              rng.choice(off_target, min(others, len(off_target)), replace=False)]
    return np.sort(np.concatenate(picked))


def relearn_curve(net: Network, x, y, x_class, target: int, *, cfg, loss: str, steps: int, seed: int) -> np.ndarray:
    """Accuracy on x_class (rows of the target class) before and after each of `steps` fine-tuning steps on (x, y).

    A copy of net is trained (cfg: a TrainSpec; batches of cfg.batch_size); masked weights stay
    zero. Returns (steps + 1,) on the host.
    """
    copy = net.copy()

    def class_accuracy() -> float:
        return float((predicted_classes(copy, x_class) == target).mean())

    curve = [class_accuracy()]
    train_steps(copy, x, y, cfg, loss=loss, steps=steps, seed=seed, stream="few-shot-order",
                on_step=lambda _: curve.append(class_accuracy()))
    return np.asarray(curve)


def steps_to_reach(curve: np.ndarray, level: float) -> int:
    """The first step at which curve reaches `level`; len(curve) (one past the budget) if it never does."""
    hits = np.flatnonzero(to_host(curve) >= level)
    return int(hits[0]) if len(hits) else len(curve)


def anamnesis_index(steps: int, retrain_steps: int) -> float:
    """Relearn steps over the retrained model's: ~1 is as good as retraining, << 1 the class was still there.

    Steps past the budget count as one past it (see steps_to_reach), so a model and a retrained
    model that both never relearn score 1; NaN when the retrained model needed no step at all.
    """
    return steps / retrain_steps if retrain_steps else float("nan")
