"""Forgetting in one pass: score the parent once, prune the shortest prefix of each layer's ranking that forgets.

The scores (analysis/forgetting.py) are computed once, on the untouched parent, from one forward
pass of the scoring rows; each pruned layer's live weights with a positive score are ranked, best
first. Pruning a fraction f of every pruned layer removes the first round(f x size) of its
ranking, so one number says how far pruning has gone: f grows geometrically until the stop rule
is met, and a few bisection steps between the last miss and the first hit find the smallest such
f. Everything here is NumPy (CuPy) products: no Numba kernel runs, so none is compiled or loaded.

Two closed-form repairs follow the pruning. The default, `feature_refit`, refits every hidden layer
above the first pruned one by ridge least squares on the scoring rows: retained rows toward the
parent's pre-activations, the class's rows toward the parent's moved from the class's mean to the
mixture of the classes each image resembles (`resemblance`, `shifted_targets`), so that what is
left of the class is aimed at other classes, as in a network that never learned it; then the output
layer toward the retained rows' one-hot labels. The lighter `readout_refit` toward `pinned_targets`
refits the output layer alone toward the parent's outputs with the class's output pinned to the
row's lowest, leaving the hidden layers as pruning left them.
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

RIDGE = 1e-3  # ridge of the closed-form refits, relative to the mean diagonal of the Gram matrix


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


def resemblance(parent_out, target: int):
    """(rows, classes): how much each of the class's images looks like each other class to the parent.

    parent_out: the parent's outputs on the class's images. Each row is those outputs clipped at 0,
    the class's own set to 0, scaled to sum to 1 (uniform over the other classes where none is positive).
    """
    xp = array_module(parent_out)
    w = xp.maximum(parent_out.astype(xp.float64), 0)
    w[:, target] = 0
    total = w.sum(axis=1, keepdims=True)
    uniform = xp.full(w.shape[1], 1.0 / (w.shape[1] - 1))
    uniform[target] = 0
    return xp.where(total > 0, w / xp.where(total > 0, total, 1), uniform)


def shifted_targets(z, groups: dict, target: int, resembles, scale: float):
    """z (rows grouped by group_rows, target first) with the class's rows moved by scale x (mixture - class mean).

    The mixture of each class row is resembles' row (see resemblance) over the other classes' mean
    rows of z: the class's images are aimed at what the classes they look like look like, each
    keeping its own offset from the class's mean. Returns a float64 copy; the other rows are z's.
    """
    xp = array_module(z)
    t = z.astype(xp.float64)
    by_class = group_means(t, groups, absolute=False)
    means = xp.zeros((resembles.shape[1], z.shape[1]))
    for c, mean in by_class.items():
        means[c] = mean
    own = groups[target]
    t[own] += scale * (resembles @ means - by_class[target])
    return t


def _ridge_system(h, targets, dtype=None):
    """Gram matrix of [h, 1] with the ridge added, and [h, 1]' targets, in dtype (default float64)."""
    xp = array_module(h)
    dtype = dtype or xp.float64
    x = xp.concatenate([h.astype(dtype, copy=False), xp.ones((h.shape[0], 1), dtype=dtype)], axis=1)
    gram = x.T @ x
    gram[xp.diag_indices_from(gram)] += RIDGE * float(xp.trace(gram)) / gram.shape[0]
    return gram, x.T @ xp.asarray(targets, dtype=dtype)


@timed("forgetting: read-out refit")
def readout_refit(net: Network, h, targets) -> None:
    """Refit net's output layer (in place, live weights and bias) by ridge least squares from h to `targets`.

    h: (rows, hidden) the network's last hidden layer on some images; targets (rows, classes) what
    the outputs (pre-activation) should be on them. One Gram matrix of [h, 1]; a column whose
    weights are partly pruned is solved on its live rows alone.
    """
    xp = net.xp
    i = net.n_layers - 1
    gram, rhs = _ridge_system(h, targets)
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


@timed("forgetting: feature refit")
def feature_refit(net: Network, parent: Network, parent_acts: list, first: int, y, groups: dict, target: int,
                  scale: float) -> None:
    """Refit (in place) every hidden layer above `first`, then the output layer, by ridge least squares.

    parent_acts = forward_from(parent, h, first) on the scoring rows (grouped, target first), y their
    labels; net is the parent with layers from `first` up pruned. Layer by layer, on the pruned
    network's own inputs, the pre-activations are fit to the parent's, the class's rows moved by
    shifted_targets (so what is left of the class is aimed at the classes its images resemble);
    the pruned weights stay zero (the dense solution, masked: an exact solve per unit would cost a
    solve per unit). The hidden layers' systems are solved in the network's dtype (the ridge keeps
    float32 well conditioned; float64 would double the refit's time). Then the output layer is fit
    to the retained rows' one-hot labels, the class's output aimed at 0 on every row.
    """
    xp = net.xp
    own = groups[target]
    resembles = resemblance(parent_acts[-1][own], target)
    a = parent_acts[0]
    for i in range(first, net.n_layers - 1):
        if i > first:
            z_parent = parent_acts[i - first] @ parent.weights[i] + parent.biases[i]
            gram, rhs = _ridge_system(a, shifted_targets(z_parent, groups, target, resembles, scale), net.dtype)
            solved = xp.linalg.solve(gram, rhs)
            net.weights[i][...] = solved[:-1] * net.masks[i]
            net.biases[i][...] = solved[-1]
        a = xp.maximum(a @ net.weights[i] + net.biases[i], 0)
    retained = slice(own.stop, None)
    readout_refit(net, a[retained], xp.eye(net.sizes[-1])[y[retained]])
