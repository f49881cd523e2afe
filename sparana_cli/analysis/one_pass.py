"""Forgetting in one pass: score the parent once, prune the shortest prefix of each layer's ranking that forgets.

The scores (analysis/forgetting.py) are computed once, on the untouched parent, from one forward
pass of the scoring rows; each pruned layer's live weights with a positive score are ranked, best
first. Pruning a fraction f of every pruned layer removes the first round(f x size) of its
ranking, so one number says how far pruning has gone: f grows geometrically until the stop rule
is met, and a few bisection steps between the last miss and the first hit find the smallest such
f. Everything here is NumPy (CuPy) products: no Numba kernel runs, so none is compiled or loaded.

The read-out refit (`readout_refit` toward `pinned_targets`) is the closed-form repair: the output
layer's live weights are refit by ridge least squares so that, on retained images only, the pruned
network's outputs match the parent's with the class's output pinned to the row's lowest output. Its input is the
pruned last hidden layer, so it mends Dr without touching what the hidden layers still hold,
and its target carries nothing of the class (the parent's own output for the class would teach
the read-out how alike each retained image is to the class).
"""

from __future__ import annotations

import math

from sparana_cli.analysis.forgetting import (
    MAAV_SCORES,
    TAYLOR_SCORES,
    group_means,
    maav_score,
    own_deltas,
    taylor_gains,
)
from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network
from sparana_cli.profile import timed

READOUT_RIDGE = 1e-3  # ridge of the read-out refit, relative to the mean diagonal of its Gram matrix


def all_scores(score: str, net: Network, acts: list, first: int, layers, y, groups: dict, target: int, *,
               alpha: float = 1.0) -> dict:
    """{layer: (in, out) score of every weight}, -inf where the weight is already pruned; higher = remove first.

    acts = forward_from(net, h, first) on rows grouped by group_rows (target first). The taylor
    family's protection max_c |mean over class c of a_i delta_j| is one product per class and layer,
    kept as a running maximum: the same score as select_taylor's fused kernel, without Numba.
    """
    xp = net.xp
    out = {}
    if score in MAAV_SCORES:
        for i in layers:
            s = maav_score(score, net.weights[i], group_means(acts[i - first], groups), groups, target, alpha=alpha)
            out[i] = xp.where(net.masks[i], s, -xp.inf)
        return out
    if score not in TAYLOR_SCORES:
        raise ValueError(f"unknown forgetting score {score!r}")
    gains = taylor_gains(score, net, acts, first, layers, groups, target)
    r0 = groups[target].stop
    own = own_deltas(net, [a[r0:] for a in acts], first, layers, y[r0:])
    for i in layers:
        a, w = acts[i - first], net.weights[i]
        protect = xp.zeros_like(w)
        for c, rows in groups.items():
            if c == target:
                continue
            part = slice(rows.start - r0, rows.stop - r0)
            mean = a[rows].T @ own[i][part]
            xp.maximum(protect, xp.abs(mean) / max(rows.stop - rows.start, 1), out=protect)
        s = w * (a.T @ gains[i]) - xp.abs(w) * protect
        out[i] = xp.where(net.masks[i], s, -xp.inf)
    return out


def ranked(scores: dict) -> dict:
    """{layer: flat indices of the weights with a positive score, highest first (ties: the lowest index)}."""
    out = {}
    for i, s in scores.items():
        xp = array_module(s)
        flat = s.ravel()
        positive = xp.flatnonzero(flat > 0)
        out[i] = positive[xp.argsort(-flat[positive], kind="stable")]
    return out


def counts_at(fraction: float, sizes: dict, order: dict) -> dict:
    """Weights removed from each layer when pruning `fraction` of it: round(fraction x size), at least 1, at most its ranking."""
    return {i: min(len(order[i]), max(1, round(fraction * n))) for i, n in sizes.items()}


def prune_prefix(net: Network, parent: Network, order: dict, counts: dict) -> None:
    """Set net's pruned layers (in place) to the parent's with the first counts[i] weights of order[i] removed."""
    for i, k in counts.items():
        net.masks[i][...] = parent.masks[i]
        net.masks[i].ravel()[order[i][:k]] = False
        net.weights[i][...] = parent.weights[i]
        net.weights[i] *= net.masks[i]


@timed("forgetting: search for the smallest fraction")
def smallest_fraction(forgets, start: float, growth: float, ceiling: float, refine: int) -> tuple[float | None, float]:
    """The smallest fraction f in [start, ceiling] with forgets(f) true, as (f or None, largest fraction tried).

    f grows by `growth` from `start` until forgets(f) (or the ceiling, tried last, fails: None); then
    `refine` bisections (geometric) between the last miss and the first hit. forgets must be
    monotone for the answer to be the smallest; it is called about log_growth(f / start) + refine times.
    """
    low, f = 0.0, start
    while not forgets(f):
        if f >= ceiling:
            return None, f
        low, f = f, min(f * growth, ceiling)
    for _ in range(refine):
        mid = math.sqrt(low * f) if low > 0 else f / growth
        if mid >= f or (low > 0 and mid <= low):
            break
        if forgets(mid):
            f = mid
        else:
            low = mid
    return f, f


def pinned_targets(parent_out, target: int):
    """The parent's outputs (rows, classes) with the class's column set to each row's lowest output: nothing of the class."""
    xp = array_module(parent_out)
    t = parent_out.astype(xp.float64)
    t[:, target] = t.min(axis=1)
    return t


@timed("forgetting: read-out refit")
def readout_refit(net: Network, h, targets) -> None:
    """Refit net's output layer (in place, live weights and bias) by ridge least squares from h to `targets`.

    h: (rows, hidden) the network's last hidden layer on some images; targets (rows, classes) what
    the outputs (pre-activation) should be on them. One Gram matrix of [h, 1]; a column whose
    weights are partly pruned is solved on its live rows alone.
    """
    xp = net.xp
    i = net.n_layers - 1
    x = xp.concatenate([h.astype(xp.float64), xp.ones((h.shape[0], 1))], axis=1)
    gram = x.T @ x
    gram[xp.diag_indices_from(gram)] += READOUT_RIDGE * float(xp.trace(gram)) / gram.shape[0]
    rhs = x.T @ xp.asarray(targets, dtype=xp.float64)
    live = net.masks[i]
    if bool(live.all()):
        solved = xp.linalg.solve(gram, rhs)
        net.weights[i][...] = solved[:-1]
        net.biases[i][...] = solved[-1]
        return
    for j in range(live.shape[1]):
        keep = xp.concatenate([xp.flatnonzero(live[:, j]), xp.asarray([live.shape[0]])])
        solved = xp.linalg.solve(gram[xp.ix_(keep, keep)], rhs[keep, j])
        net.weights[i][:, j] = 0
        net.weights[i][keep[:-1], j] = solved[:-1]
        net.biases[i][j] = solved[-1]
