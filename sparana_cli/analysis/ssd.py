"""Selective Synaptic Dampening (Foster, Schoepf and Brintrup, AAAI 2024): a forgetting comparator.

Importance of a parameter on a data set = the diagonal of the empirical Fisher information: the
squared gradient of the minibatch loss (the model's own loss), averaged over minibatches. Where a
parameter's importance on the forget set exceeds alpha times its importance on the full training
set, it is multiplied by min(lambda * full / forget, 1); every other parameter is left alone.
"""

from __future__ import annotations

from sparana_cli.engine.backend import array_module
from sparana_cli.engine.network import Network, Workspace, backward, forward_train


def importance(net: Network, x, y, *, batch: int, loss: str, square: bool = True) -> list:
    """Mean over minibatches (rows in order, `batch` at a time) of each squared loss gradient: [w0, b0, w1, b1, ...].

    square=False: the mean gradient itself (SalUn's saliency is its magnitude).
    """
    xp = net.xp
    ws = Workspace(net, min(batch, x.shape[0]))
    sums = [xp.zeros(p.shape, dtype=xp.float64) for pair in zip(net.weights, net.biases) for p in pair]
    batches = 0
    for start in range(0, x.shape[0], ws.batch):
        n = min(ws.batch, x.shape[0] - start)
        ws.acts[0][:n] = x[start:start + n]
        forward_train(net, ws, n)
        backward(net, ws, n, y[start:start + n], loss=loss)
        for total, g in zip(sums, (g for pair in zip(ws.grad_w, ws.grad_b) for g in pair)):
            total += g.astype(xp.float64) ** 2 if square else g
        batches += 1
    return [(s / max(batches, 1)).astype(net.dtype) for s in sums]


def dampen(param, forget_importance, full_importance, *, alpha: float, lam: float):
    """SSD's update of one parameter array: (new values, mask of the entries it scales by less than 1)."""
    xp = array_module(param)
    selected = forget_importance > alpha * full_importance
    factor = xp.minimum(lam * full_importance / xp.where(selected, forget_importance, 1), 1)
    return xp.where(selected, param * factor.astype(param.dtype), param), selected & (factor < 1)


def dampened(net: Network, forget: list, full: list, *, alpha: float, lam: float) -> tuple[Network, int]:
    """A copy of net with SSD's dampening applied from precomputed importances; and how many parameters it scaled down."""
    out = net.copy()
    params = [p for pair in zip(out.weights, out.biases) for p in pair]
    changed = 0
    for p, f, g in zip(params, forget, full):
        new, selected = dampen(p, f, g, alpha=alpha, lam=lam)
        p[...] = new
        changed += int(selected.sum())
    out.apply_masks()
    return out, changed


def ssd(net: Network, x_forget, y_forget, x_full, y_full, *, alpha: float, lam: float, batch: int, loss: str):
    """A dampened copy of net and the number of parameters (weights and biases) it scaled down."""
    forget = importance(net, x_forget, y_forget, batch=batch, loss=loss)
    full = importance(net, x_full, y_full, batch=batch, loss=loss)
    return dampened(net, forget, full, alpha=alpha, lam=lam)


def choice_key(df: float, dr: float, dr_parent: float, dr_tolerance: float = 0.01) -> tuple:
    """Sort key of a setting tried on validation (lowest wins): Dr within dr_tolerance of the parent's first, then the
    lowest Df (then the higher Dr); a setting that loses more Dr ranks after, by the higher Dr."""
    return (0, df, -dr) if dr >= dr_parent - dr_tolerance else (1, -dr, df)


TUNING_ALPHAS = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
TUNING_LAMBDAS = (0.1, 1.0, 10.0)


def tuned_ssd(net: Network, x_forget, y_forget, x_full, y_full, score, *, batch: int, loss: str, dr_tolerance: float = 0.01,
              alphas=TUNING_ALPHAS, lambdas=TUNING_LAMBDAS):
    """SSD with alpha and lambda chosen on held-out data, as the SSD paper tunes them per data set.

    score(network) -> (df, dr) on the validation split. Among the settings whose Dr stays within
    dr_tolerance of the undamped network's, the one with the lowest Df wins (then the higher Dr);
    when none does, the one with the highest Dr. Returns (network, parameters changed, alpha, lambda).
    """
    forget = importance(net, x_forget, y_forget, batch=batch, loss=loss)
    full = importance(net, x_full, y_full, batch=batch, loss=loss)
    _, dr_parent = score(net)
    best = None
    for alpha in alphas:
        for lam in lambdas:
            candidate, changed = dampened(net, forget, full, alpha=alpha, lam=lam)
            df, dr = score(candidate)
            key = choice_key(df, dr, dr_parent, dr_tolerance)
            if best is None or key < best[0]:
                best = (key, candidate, changed, alpha, lam)
    return best[1:]
