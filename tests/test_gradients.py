"""Every gradient of the hand-written backward pass against central finite differences (float64)."""

import numpy as np
import pytest

from sparana_cli.engine.losses import loss_and_delta
from sparana_cli.engine.network import Network, Workspace, backward, forward_train, input_gradient
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainSpec

PAIRS = [("linear", "quadratic"), ("softmax", "cross_entropy"), ("softmax", "quadratic")]
H = 1e-6


def small_net(output, sizes=(5, 7, 6, 4), seed=0):
    net = Network.xavier(list(sizes), output=output, bias=0.1, dtype="float64", seed=seed)
    rng = np.random.default_rng(seed + 100)
    for b in net.biases:
        b[:] = rng.normal(0, 0.3, b.shape)  # some ReLUs on, some off
    return net


def batch(n=9, features=5, classes=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, (n, features)), rng.integers(0, classes, n)


def reference_objective(net, x, y, loss, l1=0.0, l2=0.0):
    """The penalised mean loss written straight from the definitions, independent of the engine."""
    a = x
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        a = a @ w + b
        if i < net.n_layers - 1:
            a = np.maximum(a, 0)
    t = np.eye(a.shape[1])[y]
    if net.output == "softmax":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        value = -np.log(p[np.arange(len(y)), y]).mean() if loss == "cross_entropy" else 0.5 * ((p - t) ** 2).sum(1).mean()
    else:
        value = 0.5 * ((a - t) ** 2).sum(1).mean()
    return value + sum(0.5 * l2 * (w**2).sum() + l1 * np.abs(w).sum() for w in net.weights)


def finite_difference(f, array, index):
    old = array[index]
    array[index] = old + H
    up = f()
    array[index] = old - H
    down = f()
    array[index] = old
    return (up - down) / (2 * H)


def engine_gradients(net, x, y, loss, **train):
    trainer = Trainer(net, TrainSpec(batch_size=len(y), **train), loss=loss, seed=0)
    trainer.ws.acts[0][: len(y)] = x
    total, _ = trainer.compute_gradients(len(y), y)
    return trainer, float(total) / len(y)


@pytest.mark.parametrize("output, loss", PAIRS)
@pytest.mark.parametrize("l1, l2", [(0.0, 0.0), (0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
def test_weight_and_bias_gradients(output, loss, l1, l2):
    net = small_net(output)
    x, y = batch()
    trainer, value = engine_gradients(net, x, y, loss, l1=l1, l2=l2)
    assert value == pytest.approx(reference_objective(net, x, y, loss), rel=1e-10)  # loss without penalty
    f = lambda: reference_objective(net, x, y, loss, l1, l2)  # noqa: E731
    for i in range(net.n_layers):
        for index in np.ndindex(net.weights[i].shape):
            fd = finite_difference(f, net.weights[i], index)
            assert trainer.ws.grad_w[i][index] == pytest.approx(fd, rel=1e-5, abs=1e-8), (i, index)
        for index in np.ndindex(net.biases[i].shape):
            fd = finite_difference(f, net.biases[i], index)
            assert trainer.ws.grad_b[i][index] == pytest.approx(fd, rel=1e-5, abs=1e-8), (i, index)


@pytest.mark.parametrize("output, loss", PAIRS)
def test_masked_gradients(output, loss):
    net = small_net(output)
    rng = np.random.default_rng(7)
    for i in (0, 1, 2):
        net.masks[i] = rng.random(net.weights[i].shape) > 0.4
    net.apply_masks()
    x, y = batch()
    trainer, _ = engine_gradients(net, x, y, loss, l1=0.01, l2=0.02)
    f = lambda: reference_objective(net, x, y, loss, 0.01, 0.02)  # noqa: E731
    for i in range(net.n_layers):
        g = trainer.ws.grad_w[i]
        assert np.all(g[~net.masks[i]] == 0.0)
        for index in zip(*np.nonzero(net.masks[i])):
            assert g[index] == pytest.approx(finite_difference(f, net.weights[i], index), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("output, loss", PAIRS)
def test_input_gradient(output, loss):
    net = small_net(output)
    x, y = batch()
    grad = input_gradient(net, x, y, loss=loss)
    f = lambda: reference_objective(net, x, y, loss)  # noqa: E731
    for index in np.ndindex(x.shape):
        assert grad[index] == pytest.approx(finite_difference(f, x, index), rel=1e-5, abs=1e-8)


def test_dropout_gradient_matches_its_own_mask():
    """With dropout, the gradient is that of the network thinned by the same random mask."""
    net = small_net("linear")
    x, y = batch()
    ws = Workspace(net, len(y), dropout=0.3)

    def loss_with_mask():
        ws.acts[0][:] = x
        z = forward_train(net, ws, len(y), np.random.default_rng(11))
        return float(loss_and_delta(z, y, output="linear", loss="quadratic", delta=z.copy())) / len(y)

    ws.acts[0][:] = x
    forward_train(net, ws, len(y), np.random.default_rng(11))
    backward(net, ws, len(y), y, loss="quadratic")
    analytic = [g.copy() for g in ws.grad_w]
    dropped = (ws.acts[1] == 0).mean()
    assert 0.1 < dropped < 0.9  # the mask did something
    for i in range(net.n_layers):
        for index in np.ndindex(net.weights[i].shape):
            fd = finite_difference(loss_with_mask, net.weights[i], index)
            assert analytic[i][index] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_float32_stays_float32():
    net = Network.xavier([5, 8, 4], dtype="float32", seed=0)
    x, y = batch()
    trainer, _ = engine_gradients(net, x.astype(np.float32), y, "quadratic", l1=0.1, l2=0.1, clip=1.0)
    trainer.optimizer.step(trainer.grads)
    arrays = net.weights + net.biases + trainer.grads + trainer.ws.acts + trainer.optimizer.m + trainer.optimizer.v
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
