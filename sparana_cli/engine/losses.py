"""Output activations and costs: the summed loss of a batch and its gradient w.r.t. the output layer's pre-activation."""

from __future__ import annotations

from sparana_cli.engine.backend import array_module


def softmax(z, out=None):
    """Row-wise softmax of (n, k) logits, stable against overflow."""
    out = z.copy() if out is None else out
    if out is not z:
        out[...] = z
    out -= out.max(axis=1, keepdims=True)
    array_module(z).exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def activate_output(z, output: str):
    """Apply the output activation in place and return z."""
    return softmax(z, out=z) if output == "softmax" else z


def loss_and_delta(z, labels, *, output: str, loss: str, delta):
    """Sum over the batch of the loss for logits z (n, k) and int labels (n,).

    Writes d(mean loss)/dz into `delta` (n, k) and returns the summed loss as a 0-d array,
    so an epoch's loss can be accumulated on the device without a host sync per step.
    """
    xp = array_module(z)
    n = z.shape[0]
    rows = xp.arange(n)
    if output == "linear" and loss == "quadratic":  # LQ: L = 1/2 |z - t|^2, dL/dz = z - t
        delta[...] = z
        delta[rows, labels] -= 1
        total = 0.5 * xp.vdot(delta.ravel(), delta.ravel())
    elif output == "softmax" and loss == "cross_entropy":  # SCE: L = logsumexp(z) - z_t, dL/dz = p - t
        top = z.max(axis=1)
        softmax(z, out=delta)
        log_norm = top + xp.log(xp.exp(z - top[:, None]).sum(axis=1))
        total = (log_norm - z[rows, labels]).sum()
        delta[rows, labels] -= 1
    elif output == "softmax" and loss == "quadratic":  # L = 1/2 |p - t|^2 through the softmax Jacobian
        softmax(z, out=delta)
        diff = delta.copy()
        diff[rows, labels] -= 1
        total = 0.5 * xp.vdot(diff.ravel(), diff.ravel())
        delta *= diff - (delta * diff).sum(axis=1, keepdims=True)
    else:
        raise ValueError(f"unsupported output/loss pair: {output}/{loss}")
    delta /= n
    return total

