"""Weight scores in closed form: for each layer an array shaped like its weights (in, out).

MAAV_ij = mean_n |a_ni * W_ij| = |W_ij| * mean_n |a_ni|, with a the layer's input over a data
set, computed through the current (masked) network: one forward pass plus an (in x out) multiply.
MAV_ij = W_ij * mean_n a_ni is the signed variant.
"""

from __future__ import annotations

from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import PREDICT_CHUNK, Network
from sparana_cli.seeding import generator

METHODS = ("magnitude", "maav", "mav", "random", "positive", "negative")


def layer_input_means(net: Network, x, *, absolute: bool = True, chunk: int = PREDICT_CHUNK) -> list:
    """For each layer, the mean over rows of x of its input (|input| when absolute): list of (in,) arrays.

    Sums are accumulated in float64 so the mean does not depend on how the rows are chunked.
    """
    xp = net.xp
    sums = [xp.zeros(n, dtype=xp.float64) for n in net.sizes[:-1]]
    for start in range(0, x.shape[0], chunk):
        acts = net.activations(xp.asarray(x[start:start + chunk], dtype=net.dtype))
        for total, a in zip(sums, acts[:-1]):
            total += (xp.abs(a) if absolute else a).sum(axis=0, dtype=xp.float64)
    return [(total / max(x.shape[0], 1)).astype(net.dtype) for total in sums]


def magnitude(w):
    """|W|."""
    return array_module(w).abs(w)


def maav(w, mean_abs_input):
    """|W_ij| * mean_n |a_ni| for one layer, given the mean absolute input (in,)."""
    return array_module(w).abs(w) * mean_abs_input[:, None]


def mav(w, mean_input):
    """W_ij * mean_n a_ni for one layer (signed), given the mean input (in,)."""
    return w * mean_input[:, None]


def random_scores(w, seed: int, layer: int):
    """Uniform random scores, seeded per layer (the control that shows whether a score does work)."""
    values = generator(seed, f"random-scores-{layer}").random(w.shape, dtype=w.dtype)
    return array_module(w).asarray(values)


def score_layers(method: str, net: Network, x=None, *, seed: int = 0) -> list:
    """Scores of every layer's weights by `method`; x (rows of inputs) is needed by maav and mav.

    positive scores a weight by its value (low scores, pruned first, are the most negative weights);
    negative by minus its value (the most positive weights go first).
    """
    if method in ("maav", "mav"):
        if x is None:
            raise ValueError(f"{method} needs data to score with")
        means = layer_input_means(net, x, absolute=method == "maav")
        score = maav if method == "maav" else mav
        return [score(w, m) for w, m in zip(net.weights, means)]
    if method == "magnitude":
        return [magnitude(w) for w in net.weights]
    if method == "random":
        return [random_scores(w, seed, i) for i, w in enumerate(net.weights)]
    if method == "positive":
        return [w.copy() for w in net.weights]
    if method == "negative":
        return [-w for w in net.weights]
    raise ValueError(f"unknown score method {method!r}; expected one of {', '.join(METHODS)}")
