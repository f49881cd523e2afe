"""Dynamic sparse training (SET, RigL): per-layer densities, the starting masks, the cosine drop schedule, drop-and-grow.

A layer at density d holds round(d * size) weights from the first step on. Every `update_every` steps
until T_end, each sparse layer drops the fraction alpha_t = alpha/2 (1 + cos(pi t / T_end)) of its live
weights with the smallest magnitude and regrows as many among the weights that did not survive the
drop: at random (SET, Mocanu et al. 2018) or where the dense gradient is largest (RigL, Evci et al.
2020). Regrown weights start at zero. Selection reuses pruning.remove_count, so it is exact and
ties go to the lowest index; SET's draws come from a stream named by the step, so a resumed run
regrows exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math

import numpy as np

from sparana_cli.analysis.pruning import keep_highest, remove_count, zeros_for
from sparana_cli.engine.backend import array_module
from sparana_cli.errors import UserError
from sparana_cli.seeding import generator


def layer_densities(shapes: list[tuple[int, int]], density: float, distribution: str,
                    densities: list[float] | None = None) -> list[float]:
    """Density of each weight matrix: `densities` as given, uniform `density`, or Erdos-Renyi-kernel scaled to it.

    ERK: d_i = eps (n_in + n_out) / (n_in n_out), eps chosen so the live weights add up to density x all
    weights; a layer that would exceed 1 is made dense and eps is found again for the others.
    """
    if densities is not None:
        if len(densities) != len(shapes):
            raise UserError(f"train.sparse.densities: {len(densities)} values for {len(shapes)} weight matrices")
        return [float(d) for d in densities]
    if distribution == "uniform":
        return [float(density)] * len(shapes)
    sizes = [a * b for a, b in shapes]
    raw = [(a + b) / (a * b) for a, b in shapes]
    dense: set[int] = set()
    while True:
        budget = density * sum(sizes) - sum(sizes[i] for i in dense)
        rest = sum(raw[i] * sizes[i] for i in range(len(shapes)) if i not in dense)
        eps = budget / rest if rest else 0.0
        over = {i for i in range(len(shapes)) if i not in dense and eps * raw[i] > 1.0}
        if not over:
            return [1.0 if i in dense else eps * raw[i] for i in range(len(shapes))]
        dense |= over


def live_count(density: float, size: int) -> int:
    """Weights a layer of `size` holds at `density` (at least one)."""
    return max(1, size - zeros_for(1.0 - density, size))


def initial_masks(shapes: list[tuple[int, int]], densities: list[float], seed: int) -> list[np.ndarray]:
    """Uniformly random host masks with exactly live_count(d, size) True entries per layer."""
    return [keep_highest(generator(seed, f"sparse-init-{i}").random(shape), live_count(d, shape[0] * shape[1]))
            for i, (shape, d) in enumerate(zip(shapes, densities))]


def drop_fraction(t: int, alpha: float, t_end: int) -> float:
    """alpha/2 (1 + cos(pi t / T_end)): the share of live weights replaced at step t."""
    return alpha / 2 * (1 + math.cos(math.pi * t / t_end))


def drop_and_grow(weights, mask, grow_scores, k: int):
    """(kept, new_mask): drop the k live weights of smallest |w|, grow the k highest grow_scores among the rest.

    The candidates for growth are the weights not kept (the just-dropped included, as RigL does);
    new_mask holds exactly as many weights as mask.
    """
    xp = array_module(mask)
    kept = mask & ~remove_count([xp.abs(weights)], [mask], k)[0]
    grown = remove_count([grow_scores], [~kept], k, highest=True)[0]
    return kept, kept | grown


class Rewirer:
    """Decides when and how a sparse layer's mask changes during training (cfg: a spec's train.sparse section)."""

    def __init__(self, cfg, densities: list[float], total_steps: int, seed: int):
        self.cfg, self.seed = cfg, seed
        self.layers = [i for i, d in enumerate(densities) if d < 1.0]
        self.t_end = max(1, math.floor(cfg.end_fraction * total_steps))

    def due(self, t: int) -> bool:
        """Whether step t (1-based) updates the masks."""
        return self.cfg.method in ("set", "rigl") and t % self.cfg.update_every == 0 and t < self.t_end

    def new_masks(self, t: int, net, grads) -> dict:
        """layer -> its new mask at step t; grads are the dense gradients of the step's batch (RigL)."""
        xp, out = net.xp, {}
        for i in self.layers:
            mask, w = net.masks[i], net.weights[i]
            k = math.floor(drop_fraction(t, self.cfg.drop_fraction, self.t_end) * int(mask.sum()))
            if self.cfg.method == "rigl":
                scores = xp.abs(grads[i])
            else:
                scores = xp.asarray(generator(self.seed, f"set-grow-{t}-{i}").random(w.shape).astype(w.dtype))
            out[i] = drop_and_grow(w, mask, scores, k)[1]
        return out
