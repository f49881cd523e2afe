"""Lottery tickets (Frankle & Carbin 2019; rewinding: Frankle et al. 2020): the masks of a round and the networks it trains.

Each round prunes a share of every layer's surviving weights by a score (the output layer at its
own, usually half, rate), so a mask only ever shrinks. The ticket rewinds the survivors to the
weights a training run kept (initialisation or step k); the controls are the same mask on a fresh
random initialisation (reinit) and a random mask with the same per-layer counts on the rewound weights.
"""

from __future__ import annotations

from sparana_cli.analysis.pruning import keep_highest, remove_count
from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network
from sparana_cli.seeding import generator


def layer_rates(n_layers: int, rate: float, output_rate: float | None) -> list[float]:
    """Per weight matrix, the share of surviving weights a round prunes: rate, the output layer output_rate (rate/2)."""
    return [rate] * (n_layers - 1) + [rate / 2 if output_rate is None else output_rate]


def next_masks(scores: list, masks: list, rates: list[float]) -> list:
    """The round's masks: each layer loses round(rate x survivors) of its lowest-scored surviving weights."""
    out = []
    for s, m, rate in zip(scores, masks, rates):
        k = min(int(round(rate * int(m.sum()))), int(m.sum()) - 1)  # a layer always keeps a weight
        out.append(m & ~remove_count([s], [m], k)[0])
    return out


def rewound(target: Network, masks: list) -> Network:
    """target's weights under `masks` (the rest exactly zero) and target's biases: a rewound ticket."""
    xp = target.xp
    return Network([w * m for w, m in zip(target.weights, masks)], [b.copy() for b in target.biases],
                   [xp.asarray(m).copy() for m in masks], output=target.output)


def reinitialised(target: Network, masks: list, *, bias: float, seed: int, round_: int, backend) -> Network:
    """The same masks on a fresh Glorot initialisation drawn from its own stream (the reinit control)."""
    fresh = Network.xavier(target.sizes, output=target.output, bias=bias, dtype=str(target.dtype), seed=seed,
                           backend=backend, stream=f"reinit-{round_}")
    return rewound(fresh, masks)


def random_masks_like(masks: list, *, seed: int, round_: int) -> list:
    """Uniformly random masks with each layer's number of surviving weights (the random-pruning control)."""
    xp = array_module(masks[0])
    return [keep_highest(xp.asarray(generator(seed, f"ticket-random-{round_}-{i}").random(m.shape)), int(m.sum()))
            for i, m in enumerate(masks)]


def remaining(masks: list) -> float:
    """Share of all weights that survive."""
    return sum(int(m.sum()) for m in masks) / sum(int(m.size) for m in masks)
