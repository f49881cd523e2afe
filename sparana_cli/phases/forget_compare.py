"""The comparators a forgetting is judged against: retrain, random, magnitude, ssd (tuned) and ssd_fixed.

Each starts from the same parent network and seed and returns the forgotten network, how many
parameters it changed, the seconds it took and the setting it used (for ssd: the alpha and lambda
chosen on the validation split).
"""

from __future__ import annotations

import time

from sparana_cli.analysis.pruning import remove_count
from sparana_cli.analysis.scores import magnitude, random_scores
from sparana_cli.analysis.ssd import ssd, tuned_ssd
from sparana_cli.engine.backend import Backend, to_host
from sparana_cli.engine.metrics import predicted_classes
from sparana_cli.engine.network import Network
from sparana_cli.fitting import build_network, fit
from sparana_cli.ui import Console

COMPARATORS = ("retrain", "random", "magnitude", "ssd", "ssd_fixed")


def without_class(xy, target: int):
    """Rows (x, y) of a split whose label is not `target`."""
    x, y = xy
    keep = y != target
    return x[keep], y[keep]


def df_dr(net, xy, target: int) -> tuple[float, float]:
    """Accuracy on the target class (Df) and on every other class together (Dr) of a split (x, y)."""
    x, y = xy
    right = to_host(predicted_classes(net, x) == y)
    on_target = to_host(y) == target
    return float(right[on_target].mean()), float(right[~on_target].mean())


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
                   removed: dict, settings, console: Console) -> tuple[Network, int, float, str]:
    """(forgotten network, parameters changed, seconds, setting used) of one comparator."""
    started = time.perf_counter()
    setting = ""
    if name == "retrain":
        net, changed = retrain(spec, dataset, backend, splits, target, console)
        setting = f"{spec.train.epochs} epochs"
    elif name in ("random", "magnitude"):
        net, changed = prune_control(name, parent, removed, spec.seed)
        setting = "the forgetting's counts per layer"
    elif name in ("ssd", "ssd_fixed"):
        x, y = splits["train"]
        on_target = backend.asarray(to_host(y) == target)
        forget_xy, batch, loss = (x[on_target], y[on_target]), spec.train.batch_size, spec.model.loss
        if name == "ssd":
            net, changed, alpha, lam = tuned_ssd(parent, *forget_xy, x, y, lambda n: df_dr(n, splits["val"], target),
                                                 batch=batch, loss=loss)
        else:
            alpha, lam = settings.ssd_alpha, settings.ssd_lambda
            net, changed = ssd(parent, *forget_xy, x, y, alpha=alpha, lam=lam, batch=batch, loss=loss)
        setting = f"alpha {alpha:g}, lambda {lam:g}" + (" (chosen on validation)" if name == "ssd" else "")
    else:
        raise ValueError(f"unknown comparator {name!r}")
    backend.synchronize()
    return net, changed, time.perf_counter() - started, setting
