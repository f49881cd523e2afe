"""Which live weights to remove: the k lowest (or highest) scored, per layer, across layers, per row or per column.

Every function takes per-layer score arrays and boolean masks (True = the weight exists) on the
engine's array module and returns boolean arrays marking the weights to remove; only live weights
are ever chosen. Selection is exact and deterministic: equal scores are taken in row-major index
order (for the global scope, in layer order first). Scopes:

  layer   rank within each weight matrix
  global  rank across all the given matrices as one pool
  row     rank within each input row of a matrix (the weights leaving one unit)
  column  rank within each output column (the weights entering one unit: Wanda's grouping)
"""

from __future__ import annotations

import math

from sparana_cli.engine.backend import array_module
from sparana_cli.errors import UserError

SCOPES = ("layer", "global", "row", "column")


def lowest(values, k: int):
    """Boolean mask of the k smallest entries of a 1-D array; ties go to the lowest indices."""
    xp = array_module(values)
    n = values.shape[0]
    if not 0 <= k <= n:
        raise ValueError(f"cannot choose {k} of {n} entries")
    if k == 0 or k == n:
        return xp.full(n, k == n, dtype=bool)
    threshold = xp.partition(values, k - 1)[k - 1]
    below = values < threshold
    ties = values == threshold
    need = k - int(below.sum())
    return below | (ties & (xp.cumsum(ties) <= need))


def _oriented(scores, live, scope: str, highest: bool):
    """Scores and live masks as (groups, members) matrices, lower score = removed first."""
    if highest:
        scores = -scores
    return (scores.T, live.T) if scope == "column" else (scores, live)


def _group_ranks(scores, live):
    """Rank of each entry within its row (0 = lowest score); live entries come first, ties in index order."""
    xp = array_module(scores)
    keyed = xp.where(live, scores, xp.inf)
    order = xp.argsort(keyed, axis=1, kind="stable")
    return xp.argsort(order, axis=1, kind="stable")  # the inverse permutation: each entry's rank


def spread_lowest(scores, live, k: int):
    """The k lowest-scored live entries of a (groups, members) matrix, spread evenly over the rows.

    Every row gives up its lowest-scored live entry before any row gives its second (a row with
    no live entries left is skipped); within one round the lowest scores go first.
    """
    xp = array_module(scores)
    total = int(live.sum())
    if not 0 <= k <= total:
        raise ValueError(f"cannot remove {k} weights: only {total} are live")
    ranks = _group_ranks(scores, live)
    per_round = xp.bincount(ranks[live], minlength=1)  # how many rows still have a live entry at each rank
    rounds = int((xp.cumsum(per_round) < k).sum())  # the first round that cannot be taken whole
    chosen = live & (ranks < rounds)
    partial = live & (ranks == rounds)
    if partial.any():
        picked = xp.zeros(partial.shape, dtype=bool)
        picked[partial] = lowest(scores[partial], k - int(chosen.sum()))
        chosen |= picked
    return chosen


def quota_lowest(scores, live, quotas):
    """The quotas[g] lowest-scored live entries of each row g of a (groups, members) matrix."""
    return live & (_group_ranks(scores, live) < quotas[:, None])


def remove_count(scores: list, masks: list, k: int, *, scope: str = "layer", highest: bool = False) -> list:
    """The k lowest-scored live weights (highest with highest=True) of each matrix, or of all of them for scope global.

    For row and column scope the k weights of a matrix are spread evenly over its rows or columns.
    """
    _check_scope(scope)
    if scope == "global":
        return _pooled(scores, masks, k, highest)
    chosen = []
    for s, m in zip(scores, masks):
        if scope == "layer":
            chosen.append(_pooled([s], [m], k, highest)[0])
        else:
            s2, m2 = _oriented(s, m, scope, highest)
            picked = spread_lowest(s2, m2, k)
            chosen.append(picked.T if scope == "column" else picked)
    return chosen


def remove_to_sparsity(scores: list, masks: list, sparsity, *, scope: str = "layer", highest: bool = False) -> list:
    """The lowest-scored live weights whose removal brings each matrix to `sparsity` (already-removed ones count).

    sparsity is one fraction or one per matrix (one for scope global: the pool's). With row or column
    scope every row or column reaches it on its own. A matrix already sparser loses nothing.
    """
    _check_scope(scope)
    targets = list(sparsity) if isinstance(sparsity, (list, tuple)) else [sparsity] * len(masks)
    if scope == "global":
        size = sum(int(m.size) for m in masks)
        dead = sum(int(m.size - m.sum()) for m in masks)
        return _pooled(scores, masks, max(0, zeros_for(targets[0], size) - dead), highest)
    chosen = []
    for s, m, target in zip(scores, masks, targets):
        if scope == "layer":
            k = max(0, zeros_for(target, m.size) - int(m.size - m.sum()))
            chosen.append(_pooled([s], [m], k, highest)[0])
            continue
        s2, m2 = _oriented(s, m, scope, highest)
        xp = array_module(m2)
        dead = m2.shape[1] - m2.sum(axis=1)
        quotas = xp.maximum(zeros_for(target, m2.shape[1]) - dead, 0)
        picked = quota_lowest(s2, m2, quotas)
        chosen.append(picked.T if scope == "column" else picked)
    return chosen


def keep_highest(scores, live: int):
    """A mask holding the `live` highest of scores (from random scores: a uniformly random mask of `live` weights)."""
    xp = array_module(scores)
    return ~remove_count([scores], [xp.ones(scores.shape, dtype=bool)], int(scores.size) - live)[0]


def zeros_for(sparsity: float, size: int) -> int:
    """How many of `size` weights are zero at `sparsity` (rounded half up)."""
    return math.floor(float(sparsity) * size + 0.5)


def target_sparsities(masks: list, sparsity: float, steps: int, *, pooled: bool = False) -> list[list[float]]:
    """Per step, the sparsity each matrix aims at: equal steps from where it is now to `sparsity`.

    pooled: one shared start (the pool's sparsity), for the global scope.
    """
    if pooled:
        size = sum(int(m.size) for m in masks)
        start = [sum(int(m.size - m.sum()) for m in masks) / size] * len(masks)
    else:
        start = [int(m.size - m.sum()) / m.size for m in masks]
    return [[s0 + (sparsity - s0) * step / steps if s0 < sparsity else s0 for s0 in start] for step in range(1, steps + 1)]


def step_counts(count: int, steps: int) -> list[int]:
    """count split into `steps` parts that differ by at most one and add up exactly."""
    return [count * s // steps - count * (s - 1) // steps for s in range(1, steps + 1)]


def _pooled(scores: list, masks: list, k: int, highest: bool) -> list:
    """The k lowest-scored live weights across all the matrices together."""
    xp = array_module(masks[0])
    values = xp.concatenate([s[m] for s, m in zip(scores, masks)])
    picked = lowest(-values if highest else values, k)
    chosen, start = [], 0
    for m in masks:
        out = xp.zeros(m.shape, dtype=bool)
        n = int(m.sum())
        out[m] = picked[start:start + n]
        chosen.append(out)
        start += n
    return chosen


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; expected one of {', '.join(SCOPES)}")


def chosen_matrices(requested: list[int] | None, n_layers: int, default: list[int], key: str) -> list[int]:
    """The weight matrices a command works on: `requested` (checked, sorted, unique), else `default`.

    `key` names the setting in errors, e.g. "prune.layers".
    """
    if requested is None:
        return list(default)
    last = n_layers - 1
    for i in requested:
        if i > last:
            raise UserError(f"--layers ({key}): there is no layer {i}; the weight matrices are 0..{last}")
    return sorted(set(requested))
