"""P2: MAAV scores of every layer of the seed model, closed form vs the original library's per-sample method."""

from __future__ import annotations

import time

import numpy as np

from bench.common import interleaved, matmul_gflops, median, row, spread
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
    x, _ = mnist_shaped(samples, seed=2)
    net = Network.xavier(SEED_MODEL, seed=0)
    score_layers("maav", net, x[:10])  # warm-up
    peaks = []
    times = interleaved({"closed": lambda: score_layers("maav", net, x) and None,
                         "peak": lambda: peaks.append(matmul_gflops())}, repeats, "P2")
    closed = times["closed"]

    start = time.perf_counter()
    slow = per_sample_maav(net, x[:slice_rows])
    per_sample_seconds = (time.perf_counter() - start) / slice_rows
    extrapolated = per_sample_seconds * samples
    fast = score_layers("maav", net, x[:slice_rows])
    agree = max(float(np.max(np.abs(f - s)) / np.max(np.abs(s))) for f, s in zip(fast, slow))

    flops = 2.0 * samples * sum(a * b for a, b in zip(SEED_MODEL[:-1], SEED_MODEL[1:]))  # one forward pass
    name = f"P2 MAAV seed model, {samples:,} samples"
    return [
        row(name, "time", spread(closed), "", median(closed), "<= 1.0"),
        row(name, "speed-up", spread(closed),
            f"per-sample {extrapolated:.4g} s (from {slice_rows} samples)", extrapolated / median(closed), ">= 200",
            verdict=None),
        row(name, "GFLOP/s", spread([flops / t / 1e9 for t in closed], "GFLOP/s"), f"matmul peak {spread(peaks, 'GFLOP/s')}",
            flops / median(closed) / 1e9 / median(peaks),
            verdict=f"info: forward-pass floor {flops / median(peaks) / 1e9:.3g} s; max rel diff vs per-sample {agree:.1e}"),
    ]
