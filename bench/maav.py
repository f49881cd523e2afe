"""P2: MAAV scores of every layer of the seed model, closed form vs the original library's per-sample method."""

from __future__ import annotations

import numpy as np

from bench.common import interleaved, matmul_gflops, row, spread
from bench.training import mnist_shaped
from sparana_cli.analysis.scores import score_layers
from sparana_cli.engine.network import Network

SEED_MODEL = [784, 1000, 800, 400, 10]


def per_sample_maav(net: Network, x) -> list:
    """The seed library's method: for each sample, every layer's |W * a[:, None]| added into an (in, out) sum."""
    sums = [np.zeros_like(w) for w in net.weights]
    for a in x:
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            sums[i] += np.abs(w * a[:, None])
            a = a @ w + b
            if i < net.n_layers - 1:
                a = np.maximum(a, 0)
    return [s / len(x) for s in sums]


def p2_rows(*, samples: int, slice_rows: int, repeats: int) -> list[dict]:
    """MAAV against the matmul peak (one forward pass of `samples` images is the floor) and against the
    per-sample method on the same `slice_rows` images (the per-sample loop is too slow for all of them)."""
    x, _ = mnist_shaped(samples, seed=2)
    net = Network.xavier(SEED_MODEL, seed=0)
    score_layers("maav", net, x[:10])  # warm-up
    peaks = []
    few = x[:slice_rows]
    times = interleaved({"closed": lambda: score_layers("maav", net, x) and None,
                         "peak": lambda: peaks.append(matmul_gflops()),
                         "closed_few": lambda: score_layers("maav", net, few) and None,
                         "per_sample_few": lambda: per_sample_maav(net, few) and None}, repeats, "P2")
    closed = times["closed"]
    agree = max(float(np.max(np.abs(f - s)) / np.max(np.abs(s)))
                for f, s in zip(score_layers("maav", net, few), per_sample_maav(net, few)))

    flops = 2.0 * samples * sum(a * b for a, b in zip(SEED_MODEL[:-1], SEED_MODEL[1:]))  # one forward pass
    rates = [flops / t / 1e9 for t in closed]
    name = f"P2 MAAV seed model, {samples:,} samples"
    return [
        row(name, "GFLOP/s (fraction of the matmul peak)", spread(rates, "GFLOP/s"), f"matmul peak {spread(peaks, 'GFLOP/s')}",
            target=">= 0.8", ratios=[r / p for r, p in zip(rates, peaks)], rounds=times),
        row(name, "time", spread(closed), f"forward-pass floor {flops / np.median(peaks) / 1e9:.3g} s at the peak",
            verdict="info: one forward pass is the floor; the <= 1 s goal was below it on this CPU"),
        row(f"P2 MAAV seed model, {slice_rows:,} samples each", "speed-up, same samples",
            spread(times["closed_few"], "ms", 1e3), f"per-sample {spread(times['per_sample_few'])}", target=">= 200",
            verdict=None, ratios=times.ratios("per_sample_few", "closed_few"), rounds=times),
        row(f"P2 MAAV seed model, {slice_rows:,} samples each", "agreement", f"max rel diff {agree:.1e}",
            "per-sample method", verdict="info"),
    ]
