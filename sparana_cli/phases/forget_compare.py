"""What a forgetting is measured against: the relearn test, and the comparators retrain, random, magnitude and ssd.

Each comparator starts from the same parent network and seed and returns the forgotten network,
how many parameters it changed and the seconds it took; `measure` adds test Df, Dr and the relearn test.
"""

from __future__ import annotations

import time

import numpy as np

from sparana_cli.analysis.pruning import remove_count
from sparana_cli.analysis.scores import magnitude, random_scores
from sparana_cli.analysis.ssd import ssd
from sparana_cli.engine.backend import Backend, to_host
from sparana_cli.engine.metrics import predicted_classes
from sparana_cli.engine.network import Network
from sparana_cli.fitting import build_network, fit
from sparana_cli.ui import Console

COMPARATORS = ("retrain", "random", "magnitude", "ssd")


def without_class(xy, target: int):
    """Rows (x, y) of a split whose label is not `target`."""
    x, y = xy
    keep = to_host(y) != target
    return x[keep], y[keep]


def df_dr(net, test_xy, target: int) -> tuple[float, float]:
    """Test accuracy on the target class (Df) and on every other class together (Dr)."""
    x, y = test_xy
    right = to_host(predicted_classes(net, x) == y)
    on_target = to_host(y) == target
    return float(right[on_target].mean()), float(right[~on_target].mean())


def relearned_df(net: Network, spec, splits: dict, target: int, epochs: int, console: Console) -> float:
    """Df after fine-tuning a copy for `epochs` on the other classes only (spec.train settings, masks held)."""
    copy = net.copy()
    fit(copy, spec, without_class(splits["train"], target), without_class(splits["val"], target), console,
        epochs=epochs, label="relearn")
    return df_dr(copy, splits["test"], target)[0]


def retrain(spec, dataset, backend: Backend, splits: dict, target: int, console: Console) -> tuple[Network, int]:
    """The gold standard: the parent's spec trained from scratch (same seed) on the training data without the class."""
    net = build_network(spec, dataset, backend)
    fit(net, spec, without_class(splits["train"], target), without_class(splits["val"], target), console,
        label="retrain")
    return net, sum(int(m.sum()) for m in net.masks)


def prune_control(kind: str, parent: Network, removed: dict, seed: int) -> tuple[Network, int]:
    """The parent with removed[i] weights of each layer i pruned at random or by largest |W|."""
    net = parent.copy()
    layers = [i for i, k in removed.items() if k]
    if kind == "random":
        scores = [random_scores(net.weights[i], seed, i) for i in layers]
    else:
        scores = [magnitude(net.weights[i]) for i in layers]
    for i, s in zip(layers, scores):
        gone = remove_count([s], [net.masks[i]], removed[i], highest=kind == "magnitude")[0]
        net.masks[i] = net.masks[i] & ~gone
    net.apply_masks()
    return net, sum(removed.values())


def run_comparator(name: str, *, parent: Network, spec, dataset, backend: Backend, splits: dict, target: int,
                   removed: dict, settings, console: Console) -> tuple[Network, int, float]:
    """(forgotten network, parameters changed, seconds) of one comparator."""
    started = time.perf_counter()
    if name == "retrain":
        net, changed = retrain(spec, dataset, backend, splits, target, console)
    elif name in ("random", "magnitude"):
        net, changed = prune_control(name, parent, removed, spec.seed)
    elif name == "ssd":
        x, y = splits["train"]
        on_target = to_host(y) == target
        net, changed = ssd(parent, x[on_target], y[on_target], x, y, alpha=settings.ssd_alpha, lam=settings.ssd_lambda,
                           batch=spec.train.batch_size, loss=spec.model.loss)
    else:
        raise ValueError(f"unknown comparator {name!r}")
    backend.synchronize()
    return net, changed, time.perf_counter() - started


def measure(method: str, net: Network, changed: int, seconds: float, *, spec, splits: dict, target: int,
            relearn_epochs: int, console: Console) -> dict:
    """One row of the comparison table."""
    df, dr = df_dr(net, splits["test"], target)
    relearned = relearned_df(net, spec, splits, target, relearn_epochs, console) if relearn_epochs else float("nan")
    return {"method": method, "df": df, "dr": dr, "relearn_df": relearned, "weights_changed": int(changed),
            "seconds": float(seconds)}


def table_arrays(rows: list[dict]) -> dict:
    """The comparison table as metrics.h5 arrays (method names as bytes)."""
    return {"method": np.asarray([r["method"] for r in rows], dtype="S"),
            **{key: np.asarray([r[key] for r in rows]) for key in ("df", "dr", "relearn_df", "weights_changed", "seconds")}}
