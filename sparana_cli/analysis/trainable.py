"""Which weights train under `train.trainable`: per layer, the top fraction of live weights by a score."""

from __future__ import annotations

import numpy as np

from sparana_cli.analysis.scores import score_layers
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.network import Network


def top_indices(scores, masks, fraction: float) -> list[np.ndarray]:
    """For each layer, the sorted flat indices of the round(fraction * live) live weights with the highest score.

    A layer with live weights keeps at least one; masked weights (mask False) are never chosen.
    """
    chosen = []
    for score, mask in zip(scores, masks):
        live = np.flatnonzero(to_host(mask).ravel())
        k = min(live.size, max(1, round(fraction * live.size))) if live.size else 0
        values = to_host(score).ravel()[live]
        top = np.argpartition(values, live.size - k)[live.size - k:] if k < live.size else np.arange(live.size)
        chosen.append(np.sort(live[top]).astype(np.int64))
    return chosen


def choose_trainable(net: Network, cfg, x, *, seed: int) -> list[np.ndarray] | None:
    """Flat indices of the weights that train for a TrainableSpec `cfg` (None: all of them).

    maav scores the weights on the rows of x through the network as it is before training.
    """
    if cfg.method == "all":
        return None
    return top_indices(score_layers(cfg.method, net, x, seed=seed), net.masks, cfg.fraction)


def describe_trainable(net: Network, indices: list[np.ndarray] | None) -> str:
    """One line saying how many weights train."""
    total = sum(int(w.size) for w in net.weights)
    if indices is None:
        return f"all {total:,} weights and {sum(int(b.size) for b in net.biases):,} biases train"
    count = sum(int(t.size) for t in indices)
    per_layer = ", ".join(f"{t.size:,}" for t in indices)
    return f"{count:,} of {total:,} weights train ({per_layer} per layer); the others and all biases are frozen"
