"""Accuracy measures computed on the device, returned on the host."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparana_cli.engine.backend import to_host


def predicted_classes(net, x):
    """argmax of the network's output for each row of x (device array of ints)."""
    return net.predict(x).argmax(axis=1)


def confusion_matrix(labels, predicted, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts: rows are true classes, columns predicted ones."""
    flat = to_host(labels * n_classes + predicted).astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Fraction correct for each true class (NaN for a class with no samples)."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)


def accuracy(net, x, labels) -> float:
    """Fraction of rows whose predicted class equals the label."""
    if x.shape[0] == 0:
        return float("nan")
    return float((predicted_classes(net, x) == labels).mean())


@dataclass(frozen=True)
class Evaluation:
    """Test-set figures of one network."""

    accuracy: float
    per_class: np.ndarray  # (n_classes,) fraction correct per true class
    confusion: np.ndarray  # (n_classes, n_classes) rows true, columns predicted

    def as_dict(self) -> dict:
        return {"accuracy": self.accuracy, "per_class_accuracy": self.per_class.tolist(),
                "confusion": self.confusion.tolist()}


def evaluate_network(net, x, labels, n_classes: int) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of net on (x, labels)."""
    return evaluation_of(confusion_matrix(labels, predicted_classes(net, x), n_classes))


def evaluation_of(confusion) -> Evaluation:
    """Accuracy, per-class accuracy and the confusion matrix itself, from a confusion matrix."""
    total = confusion.sum()
    return Evaluation(float(np.trace(confusion) / total) if total else float("nan"),
                      per_class_accuracy(confusion), confusion)


def parameter_counts(net) -> dict:
    """Weights and biases per layer, total and nonzero."""
    layers = []
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        layers.append({"layer": i, "shape": list(w.shape), "weights": int(w.size),
                       "nonzero": int(net.xp.count_nonzero(w)), "biases": int(b.size)})
    total = sum(r["weights"] + r["biases"] for r in layers)
    nonzero = sum(r["nonzero"] + r["biases"] for r in layers)
    return {"layers": layers, "total": total, "nonzero": nonzero}
