"""The comparators a forgetting is judged against: retrain, random, magnitude, ssd (tuned), ssd_fixed, and the
literature's project (Kodge et al. 2024), salun (Fan et al. 2024), finetune (retained images only) and head (the
output layer alone refit).

Each starts from the same parent network and seed and returns the forgotten network, how many
parameters it changed, the seconds it took and the setting it used (for ssd, project, salun and
finetune: the one chosen on the validation split, keeping validation Dr within a point of the
parent's, then the lowest validation Df).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from sparana_cli.analysis.one_pass import readout_refit
from sparana_cli.analysis.projection import PROJECTION_ALPHAS, layer_bases, projected
from sparana_cli.analysis.pruning import remove_count
from sparana_cli.analysis.retained_tuning import (
    FINETUNE_LR_SCALES,
    FINETUNE_STEPS,
    SALUN_FRACTIONS,
    SALUN_LR_SCALES,
    SALUN_STEPS,
    random_other_labels,
    salient_weights,
    tuned_copies,
)
from sparana_cli.analysis.scores import magnitude, random_scores
from sparana_cli.analysis.ssd import choice_key, ssd, tuned_ssd
from sparana_cli.engine.backend import Backend, to_host
from sparana_cli.engine.metrics import predicted_classes
from sparana_cli.engine.network import Network
from sparana_cli.fitting import build_network, fit
from sparana_cli.seeding import generator
from sparana_cli.ui import Console

COMPARATORS = ("retrain", "random", "magnitude", "ssd", "ssd_fixed", "project", "salun", "finetune", "head")
COMPARE_ROWS = 1000  # project and salun: training images of the class (seeded) and 3x as many retained ones


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


def changed_count(parent: Network, net: Network) -> int:
    """Weights and biases of net that differ from the parent's."""
    xp = net.xp
    pairs = zip(parent.weights + parent.biases, net.weights + net.biases)
    return sum(int(xp.count_nonzero(a != b)) for a, b in pairs)


def sampled(xy, rows: int, seed: int, stream: str):
    """Up to `rows` seeded rows (in order) of a split's (x, y)."""
    x, y = xy
    n = y.shape[0]
    if rows >= n:
        return x, y
    pick = np.sort(generator(seed, stream).choice(n, rows, replace=False))
    return x[pick], y[pick]


def class_rows(xy, target: int):
    """Rows (x, y) of a split whose label is `target`."""
    x, y = xy
    keep = y == target
    return x[keep], y[keep]


def best_on_validation(candidates, splits: dict, target: int, dr_parent: float):
    """The (network, setting) among candidates whose validation (Df, Dr) ranks first by ssd.choice_key."""
    ranked = [(choice_key(*df_dr(net, splits["val"], target), dr_parent), k, net, setting)
              for k, (net, setting) in enumerate(candidates)]
    return min(ranked, key=lambda r: r[:2])[2:]


def head_only(parent: Network, splits: dict, target: int, n_classes: int, seed: int) -> Network:
    """The output layer alone refit by least squares on retained training images' last hidden layer to their one-hot
    labels (the class's output aimed at 0 everywhere): a read-out-only forgetting, every hidden layer untouched."""
    x, y = sampled(without_class(splits["train"], target), 20_000, seed, "head-rows")
    net = parent.copy()
    h = parent.activations(x)[-2]
    xp = net.xp
    readout_refit(net, h, xp.eye(n_classes)[y])
    return net


def project_comparator(parent: Network, splits: dict, target: int, seed: int):
    """Kodge et al.'s projection with alpha chosen on the validation split; (network, setting)."""
    x_f, _ = sampled(class_rows(splits["train"], target), COMPARE_ROWS, seed, "project-forget")
    x_r, _ = sampled(without_class(splits["train"], target), 3 * COMPARE_ROWS, seed, "project-retain")
    bases = layer_bases(parent, x_f, x_r)
    _, dr_parent = df_dr(parent, splits["val"], target)
    return best_on_validation([(projected(parent, bases, a), f"alpha {a:g}") for a in PROJECTION_ALPHAS],
                              splits, target, dr_parent)


def salun_comparator(parent: Network, spec, splits: dict, target: int, n_classes: int):
    """SalUn with its saliency fraction, learning rate and steps chosen on the validation split; (network, setting)."""
    seed, loss, xp = spec.seed, spec.model.loss, parent.xp
    x_f, y_f = sampled(class_rows(splits["train"], target), COMPARE_ROWS, seed, "salun-forget")
    x_r, y_r = sampled(without_class(splits["train"], target), 3 * COMPARE_ROWS, seed, "salun-retain")
    x = xp.concatenate([x_f, x_r])
    y = xp.concatenate([xp.asarray(random_other_labels(to_host(y_f), target, n_classes, seed)), y_r])
    _, dr_parent = df_dr(parent, splits["val"], target)
    candidates = []
    for fraction in SALUN_FRACTIONS:
        trainable = salient_weights(parent, x_f, y_f, fraction, batch=spec.train.batch_size, loss=loss)
        for scale in SALUN_LR_SCALES:
            cfg = dataclasses.replace(spec.train, lr=spec.train.lr * scale)
            for steps, net in tuned_copies(parent, x, y, cfg, loss=loss, seed=seed, stream="salun",
                                           checkpoints=SALUN_STEPS, trainable=trainable):
                candidates.append((net, f"{100 * fraction:g}% most salient weights, lr {cfg.lr:g}, {steps} steps"))
    return best_on_validation(candidates, splits, target, dr_parent)


def finetune_comparator(parent: Network, spec, splits: dict, target: int):
    """Every weight fine-tuned on retained training images, learning rate and steps chosen on validation."""
    x, y = without_class(splits["train"], target)
    _, dr_parent = df_dr(parent, splits["val"], target)
    candidates = []
    for scale in FINETUNE_LR_SCALES:
        cfg = dataclasses.replace(spec.train, lr=spec.train.lr * scale)
        for steps, net in tuned_copies(parent, x, y, cfg, loss=spec.model.loss, seed=spec.seed, stream="finetune",
                                       checkpoints=FINETUNE_STEPS):
            candidates.append((net, f"lr {cfg.lr:g}, {steps} steps"))
    return best_on_validation(candidates, splits, target, dr_parent)


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
    elif name == "head":
        net = head_only(parent, splits, target, dataset.n_classes, spec.seed)
        changed, setting = changed_count(parent, net), "output layer refit on retained images (least squares)"
    elif name in ("project", "salun", "finetune"):
        if name == "project":
            net, setting = project_comparator(parent, splits, target, spec.seed)
        elif name == "salun":
            net, setting = salun_comparator(parent, spec, splits, target, dataset.n_classes)
        else:
            net, setting = finetune_comparator(parent, spec, splits, target)
        changed, setting = changed_count(parent, net), setting + " (chosen on validation)"
    else:
        raise ValueError(f"unknown comparator {name!r}")
    backend.synchronize()
    return net, changed, time.perf_counter() - started, setting
