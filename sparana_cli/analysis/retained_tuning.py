"""Fine-tuning comparators: `finetune` (every weight on retained images) and SalUn (Fan et al., ICLR 2024).

SalUn: the saliency of a weight is the magnitude of the forget loss's gradient (the mean over the
class's images); the `fraction` most salient weights of each layer are fine-tuned, every other
weight and every bias frozen, on the class's images with random labels (another class, uniformly)
together with retained images with their own labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sparana_cli.analysis.ssd import importance
from sparana_cli.analysis.trainable import top_indices
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import train_steps
from sparana_cli.seeding import generator

TUNE_BATCH = 100


def salient_weights(net: Network, x_forget, y_forget, fraction: float, *, batch: int, loss: str) -> list[np.ndarray]:
    """Per layer, the flat indices of the `fraction` live weights with the largest forget-loss gradient magnitude."""
    grads = importance(net, x_forget, y_forget, batch=batch, loss=loss, square=False)[0::2]
    return top_indices([net.xp.abs(g) for g in grads], net.masks, fraction)


def random_other_labels(y, target: int, n_classes: int, seed: int):
    """Labels drawn uniformly from the classes other than `target` (seeded), one per entry of y."""
    labels = generator(seed, "salun-labels").integers(0, n_classes - 1, size=len(y))
    return labels + (labels >= target)


def tuned_copies(net: Network, x, y, cfg, *, loss: str, seed: int, stream: str, checkpoints, trainable=None):
    """Fine-tune a copy of net on (x, y) in batches of TUNE_BATCH; yield (steps, a copy) at each checkpoint step."""
    work = net.copy()
    cfg = dataclasses.replace(cfg, batch_size=TUNE_BATCH, dropout=0.0)
    copies = []
    wanted = set(checkpoints)
    train_steps(work, x, y, cfg, loss=loss, steps=max(checkpoints), seed=seed, stream=stream, trainable=trainable,
                on_step=lambda step: copies.append((step, work.copy())) if step in wanted else None)
    return copies


FINETUNE_STEPS = (100, 300, 1000)
FINETUNE_LR_SCALES = (1.0, 10.0)
SALUN_FRACTIONS = (0.1, 0.5)
SALUN_STEPS = (100, 300)
SALUN_LR_SCALES = (1.0, 10.0)
