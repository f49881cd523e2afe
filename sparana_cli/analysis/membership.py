"""Membership inference on the forget set, as in SSD's evaluation (Foster et al. 2024, after Chundawat et al.).

A one-feature logistic regression on the entropy of the model's output distribution learns to
separate training images (members) from test images (non-members) of the retained classes; the
rate at which it calls the forget set's training images "member" says how much they still look
like something the model was trained on. The retrained model's rate is the reference.
"""

from __future__ import annotations

import numpy as np

NEWTON_STEPS = 50


def output_entropy(probabilities: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a (rows, classes) array of probabilities."""
    p = np.clip(probabilities.astype(np.float64), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def fit_logistic(feature: np.ndarray, label: np.ndarray) -> tuple[float, float, float, float]:
    """(mean, scale, w, b) of a logistic regression P(label=1) = sigmoid(w (x - mean) / scale + b), by Newton's method."""
    mean, spread = float(feature.mean()), float(feature.std())
    scale = spread if spread > 1e-12 * max(1.0, abs(mean)) else 1.0  # a constant feature (up to rounding) says nothing
    x = np.stack([(feature - mean) / scale, np.ones_like(feature)], axis=1)
    theta = np.zeros(2)
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-x @ theta))
        hessian = (x * (p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)  # the tiny ridge keeps separable data finite
        theta -= np.linalg.solve(hessian, x.T @ (p - label))
    return mean, scale, float(theta[0]), float(theta[1])


def member_rate(members: np.ndarray, non_members: np.ndarray, queried: np.ndarray) -> float:
    """Fraction of `queried` rows called member by a logistic regression fit on members vs non-members.

    Each argument is a (rows, classes) array of output probabilities. The two fitting sets are
    balanced (the larger is cut to the smaller's size, keeping its first rows).
    """
    n = min(len(members), len(non_members))
    feature = np.concatenate([output_entropy(members[:n]), output_entropy(non_members[:n])])
    label = np.concatenate([np.ones(n), np.zeros(n)])
    mean, scale, w, b = fit_logistic(feature, label)
    logits = w * (output_entropy(queried) - mean) / scale + b
    return float((logits > 0).mean())
