import numpy as np
import pytest

from sparana_cli.engine.network import Network
from sparana_cli.engine.optimizers import SGD, Adam
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainSpec


def grads_sequence(shape, steps, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(steps)]


def test_sgd_with_momentum_matches_formula():
    p0 = np.random.default_rng(1).normal(size=(3, 4))
    p = p0.copy()
    opt = SGD([p], lr=0.1, momentum=0.9)
    gs = grads_sequence(p.shape, 3)
    v, ref = np.zeros_like(p), p0.copy()
    for g in gs:
        v = 0.9 * v + g
        ref = ref - 0.1 * v
        opt.step([g.copy()])
    np.testing.assert_allclose(p, ref, rtol=1e-12)


def test_plain_sgd():
    p = np.ones(4)
    SGD([p], lr=0.5).step([np.arange(4.0)])
    np.testing.assert_array_equal(p, 1 - 0.5 * np.arange(4.0))


def test_adam_matches_formula():
    p0 = np.random.default_rng(2).normal(size=(5,))
    p = p0.copy()
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    opt = Adam([p], lr=lr, beta1=b1, beta2=b2, eps=eps)
    m = v = np.zeros_like(p)
    ref = p0.copy()
    for t, g in enumerate(grads_sequence(p.shape, 4), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        ref = ref - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        opt.step([g.copy()])
    np.testing.assert_allclose(p, ref, rtol=1e-12)


def test_clipping_limits_the_global_norm_and_keeps_direction():
    net = Network.xavier([6, 9, 3], dtype="float64", seed=0)
    x = np.random.default_rng(0).normal(size=(8, 6)) * 10
    y = np.arange(8) % 3

    def grads(clip):
        trainer = Trainer(net, TrainSpec(batch_size=8, clip=clip), loss="quadratic", seed=0)
        trainer.ws.acts[0][:] = x
        trainer.compute_gradients(8, y)
        return np.concatenate([g.ravel() for g in trainer.grads])

    free, clipped = grads(None), grads(0.01)
    assert np.linalg.norm(free) > 0.01
    assert np.linalg.norm(clipped) == pytest.approx(0.01, rel=1e-6)
    np.testing.assert_allclose(clipped / np.linalg.norm(clipped), free / np.linalg.norm(free), rtol=1e-9)
    np.testing.assert_array_equal(grads(1e9), free)  # a generous clip changes nothing
