"""Adversarial inputs under an L-infinity budget, and how detectable they are from the output alone.

Attacks follow the gradient of a loss with respect to the input, taken by the engine's backward
pass: by default the model's own training loss (quadratic for LQ models, cross-entropy for SCE
models). Every perturbed image stays inside the eps-ball around the clean image and inside the
valid pixel range [0, 1].
"""

from __future__ import annotations

from typing import Callable

from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network, input_gradient
from sparana_cli.seeding import generator

METHODS = ("fgsm", "pgd")
PGD_STEP_SCALE = 2.5  # step = 2.5 * eps / steps (Madry et al. 2018): the walk can cross the ball and back
PIXEL_MIN, PIXEL_MAX = 0.0, 1.0


def project(x_adv, x, eps):
    """x_adv clipped (in place) to the eps-ball around x and to the pixel range; returns x_adv."""
    xp = array_module(x)
    xp.minimum(x_adv, x + eps, out=x_adv)
    xp.maximum(x_adv, x - eps, out=x_adv)
    return xp.clip(x_adv, PIXEL_MIN, PIXEL_MAX, out=x_adv)


def attack_objective(net: Network, model_loss: str, attack_loss: str) -> tuple[Network, str]:
    """The network and loss whose input gradient the attack follows.

    attack_loss "model" is the model's own training loss; "cross_entropy" is the softmax
    cross-entropy of the outputs taken as logits, for an LQ model a view of the same weights
    with a softmax output (so LQ and SCE models can be attacked with one objective).
    """
    if attack_loss == "model":
        return net, model_loss
    if attack_loss == "cross_entropy":
        if net.output == "softmax":
            return net, "cross_entropy"
        return Network(net.weights, net.biases, net.masks, output="softmax"), "cross_entropy"
    raise ValueError(f"unknown attack loss {attack_loss!r}; expected model or cross_entropy")


def fgsm(net: Network, x, labels, eps: float, *, loss: str):
    """Fast gradient sign method (Goodfellow et al. 2015): x + eps * sign(d loss / dx), projected."""
    xp = array_module(x)
    x_adv = x + eps * xp.sign(input_gradient(net, x, labels, loss=loss))
    return project(x_adv, x, eps)


def pgd(net: Network, x, labels, eps: float, *, loss: str, steps: int = 10, step_scale: float = PGD_STEP_SCALE,
        random_start: bool = True, seed: int = 0, stream: str = "pgd-start"):
    """Projected gradient descent on the loss (Madry et al. 2018): `steps` signed steps of
    step_scale * eps / steps, each projected back onto the eps-ball and the pixel range.

    With random_start the walk begins at a uniform point of the eps-ball, drawn on the host from
    (seed, stream) so that every device starts from the same point.
    """
    xp = array_module(x)
    step = step_scale * eps / steps
    x_adv = x.copy()
    if random_start:
        noise = generator(seed, stream).uniform(-1.0, 1.0, x.shape).astype(x.dtype)
        x_adv += eps * xp.asarray(noise)
        project(x_adv, x, eps)
    for _ in range(steps):
        x_adv += step * xp.sign(input_gradient(net, x_adv, labels, loss=loss))
        project(x_adv, x, eps)
    return x_adv


def perturb(method: str, net: Network, x, labels, eps: float, *, loss: str, steps: int = 10,
            step_scale: float = PGD_STEP_SCALE, random_start: bool = True, seed: int = 0, batch_size: int = 500,
            on_batch: Callable[[int], None] | None = None):
    """Adversarial versions of every row of x (n, features), attacked `batch_size` rows at a time.

    Batch k's random start comes from its own stream of `seed`, so results do not depend on the device.
    on_batch(rows) is called after each batch.
    """
    if method not in METHODS:
        raise ValueError(f"unknown attack method {method!r}; expected one of {', '.join(METHODS)}")
    out = array_module(x).empty_like(x)
    for k, start in enumerate(range(0, x.shape[0], batch_size)):
        rows = slice(start, start + batch_size)
        if method == "fgsm":
            out[rows] = fgsm(net, x[rows], labels[rows], eps, loss=loss)
        else:
            out[rows] = pgd(net, x[rows], labels[rows], eps, loss=loss, steps=steps, step_scale=step_scale,
                            random_start=random_start, seed=seed, stream=f"pgd-start-{k}")
        if on_batch is not None:
            on_batch(out[rows].shape[0])
    return out


# -- detection from the output vector ---------------------------------------------------------


def onehot_distance(y):
    """Euclidean distance of each output row (n, k) from its nearest one-hot vector.

    |y - e_j|^2 = |y|^2 - 2 y_j + 1 is smallest at j = argmax y: that is the nearest one.
    """
    xp = array_module(y)
    diff = y.copy()
    diff[xp.arange(y.shape[0]), y.argmax(axis=1)] -= 1
    return xp.sqrt((diff * diff).sum(axis=1))


def low_confidence(p):
    """1 - max softmax probability of each row (n, k): high when the model is unsure."""
    return 1 - p.max(axis=1)


DETECTION_SCORES = {"linear": ("onehot_distance", onehot_distance), "softmax": ("1-max_softmax", low_confidence)}


def detection_score(net: Network, outputs):
    """(name, per-row score) for the model's kind of output; a higher score says "attacked"."""
    name, score = DETECTION_SCORES[net.output]
    return name, score(outputs)


def auroc(negatives, positives) -> float:
    """Area under the ROC curve for telling positives (high scores) from negatives (low scores).

    The rank (Mann-Whitney) formula: pool both sets, give tied values their average rank, then
    AUROC = (sum of the positives' ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg), which is
    P(positive > negative) + P(tie) / 2. NaN when either set is empty.
    """
    xp = array_module(positives)
    n_neg, n_pos = negatives.shape[0], positives.shape[0]
    if n_neg == 0 or n_pos == 0:
        return float("nan")
    pooled = xp.concatenate([positives.astype(xp.float64), negatives.astype(xp.float64)])
    values, inverse, counts = xp.unique(pooled, return_inverse=True, return_counts=True)
    below = xp.cumsum(counts) - counts  # values smaller than each distinct value
    mean_rank = below + (counts + 1) / 2.0  # ranks are 1-based
    rank_sum = mean_rank[inverse.ravel()[:n_pos]].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
