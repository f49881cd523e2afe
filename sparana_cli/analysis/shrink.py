"""Removing dead hidden units: a pruned network rewritten as smaller dense matrices with the same outputs.

A hidden unit is dead when no live weight reaches it from a live unit (its output is then the
constant relu(b_j)) or no live weight leaves it for a live unit (nothing reads it). Removing one
can kill others, so liveness is the largest set of units that satisfies both conditions, found by
repeating the test until nothing changes. Inputs and outputs are never removed.

A constant unit's contribution, relu(b_j) * W_next[j, :], moves into the next layer's bias; b_j is
read before anything is cut, and already carries what the previous layer's dead units folded in.
"""

from __future__ import annotations

from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network


def live_units(masks: list) -> list:
    """For each hidden layer, a boolean array of its units that survive removal (from the masks alone)."""
    xp = array_module(masks[0])
    alive = [xp.ones(m.shape[1], dtype=bool) for m in masks[:-1]]  # start from every unit, remove until stable
    changed = True
    while changed:
        changed = False
        for i in range(len(alive)):
            incoming = masks[i] if i == 0 else masks[i][alive[i - 1]]
            outgoing = masks[i + 1] if i + 1 == len(alive) else masks[i + 1][:, alive[i + 1]]
            keep = alive[i] & incoming.any(axis=0) & outgoing.any(axis=1)
            if bool((keep != alive[i]).any()):
                alive[i], changed = keep, True
    return alive


def surviving_weights(masks: list, alive: list) -> list[int]:
    """Live weights per layer that join two surviving units (what the shrunk network keeps)."""
    rows, cols = [None, *alive], [*alive, None]
    return [int((m if r is None else m[r])[:, slice(None) if c is None else c].sum()) for m, r, c in zip(masks, rows, cols)]


def dense_size(sizes: list[int]) -> int:
    """Weights and biases of a dense network with these layer widths."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def shrink(net: Network) -> Network:
    """A copy of net without its dead hidden units, constant ones folded into the next bias."""
    xp = net.xp
    alive = live_units(net.masks)
    weights, biases, masks = list(net.weights), list(net.biases), list(net.masks)
    for i, keep in enumerate(alive):
        gone = ~keep
        # relu(b_j) * W_next[j, :] for the removed units, with b_j as it stands before this cut
        next_bias = biases[i + 1] + xp.maximum(biases[i][gone], 0) @ weights[i + 1][gone]
        weights[i], biases[i], masks[i] = weights[i][:, keep], biases[i][keep], masks[i][:, keep]
        weights[i + 1], masks[i + 1] = weights[i + 1][keep], masks[i + 1][keep]
        biases[i + 1] = next_bias.astype(net.dtype)
    return Network([xp.ascontiguousarray(w) for w in weights], biases, [xp.ascontiguousarray(m) for m in masks],
                   output=net.output)
