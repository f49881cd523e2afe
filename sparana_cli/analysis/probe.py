"""Linear probes: how well a hidden layer's activations still tell the classes apart.

A probe is ridge least squares from standardised features to one-hot targets, fit in closed form
on training rows and scored on test rows (Kim et al. 2025, "Are we truly forgetting?"). If the
probe recognises a forgotten class as well as on the parent, only the read-out was cut.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparana_cli.engine.backend import array_module, to_host

DEFAULT_RIDGE = 1e-2  # x (rows) on the diagonal of the standardised Gram matrix


@dataclass(frozen=True)
class ProbeScore:
    """A probe's test figures: recall of one class and accuracy over all classes."""

    recall: float  # fraction of the class's test rows the probe assigns to it
    accuracy: float  # fraction of all test rows it assigns to their class


def fit_probe(features, labels, n_classes: int, *, ridge: float = DEFAULT_RIDGE):
    """(mean, scale, weights, bias) of a ridge least-squares probe on features (n, d) with integer labels (n,)."""
    xp = array_module(features)
    f = features.astype(xp.float64)
    mean = f.mean(axis=0)
    scale = f.std(axis=0)
    scale = xp.where(scale > 1e-12, scale, 1.0)  # dead units: constant columns carry nothing
    z = (f - mean) / scale
    targets = xp.zeros((f.shape[0], n_classes))
    targets[xp.arange(f.shape[0]), labels] = 1.0
    bias = targets.mean(axis=0)
    gram = z.T @ z
    gram[xp.diag_indices_from(gram)] += ridge * f.shape[0]
    weights = xp.linalg.solve(gram, z.T @ (targets - bias))
    return mean, scale, weights, bias


def probe_predictions(probe, features):
    """Predicted class of each row of features under a fitted probe."""
    mean, scale, weights, bias = probe
    xp = array_module(features)
    return (((features.astype(xp.float64) - mean) / scale) @ weights + bias).argmax(axis=1)


def probe_score(train_features, train_labels, test_features, test_labels, target: int, n_classes: int,
                *, ridge: float = DEFAULT_RIDGE) -> ProbeScore:
    """Fit a probe on the training rows and score it on the test rows: recall of `target` and overall accuracy."""
    probe = fit_probe(train_features, train_labels, n_classes, ridge=ridge)
    right = to_host(probe_predictions(probe, test_features) == test_labels)
    on_target = to_host(test_labels) == target
    return ProbeScore(recall=float(right[on_target].mean()), accuracy=float(right.mean()))
