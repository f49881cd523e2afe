from types import SimpleNamespace

import numpy as np
import pytest

from sparana_cli.engine.network import Network
from sparana_cli.engine.optimizers import SGD, Adam, make_optimizer
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


@pytest.mark.parametrize("make, slots", [(lambda ps: Adam(ps, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8), {"m", "v"}),
                                         (lambda ps: SGD(ps, lr=0.1, momentum=0.9), {"velocity"}),
                                         (lambda ps: SGD(ps, lr=0.1), set())])
def test_state_loaded_into_a_fresh_optimizer_continues_exactly(make, slots):
    """What a checkpoint stores (state(), t) makes a new optimizer take the very step the old one would."""
    rng = np.random.default_rng(5)
    params = [rng.normal(size=(3, 4)), rng.normal(size=4)]
    first, second = ([rng.normal(size=p.shape) for p in params] for _ in range(2))
    old = make(params)
    old.step(first)
    old.step([g * 0.5 for g in first])
    assert set(old.state()) == slots
    copies = [p.copy() for p in params]
    new = make(copies)
    new.load_state(old.t, {name: [a.copy() for a in arrays] for name, arrays in old.state().items()})
    assert new.t == old.t == 2
    old.step(second)
    new.step([g.copy() for g in second])
    for a, b in zip(params, copies):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(AssertionError):
        new.load_state(2, {"other": [np.zeros(1)]})
    if slots:
        with pytest.raises(ValueError):  # one array per parameter, no fewer
            new.load_state(2, {name: [np.zeros((3, 4))] for name in slots})


def test_the_spec_names_the_optimizer_and_its_settings():
    p = [np.zeros(3, dtype=np.float32)]
    sgd = make_optimizer(p, TrainSpec(optimizer="sgd", lr=0.2, momentum=0.5))
    assert type(sgd) is SGD and (sgd.lr, sgd.momentum) == (0.2, 0.5) and sgd.params is p
    adam = make_optimizer(p, TrainSpec(optimizer="adam", lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6))
    assert type(adam) is Adam and (adam.lr, adam.beta1, adam.beta2, adam.eps) == (0.01, 0.8, 0.99, 1e-6)
    default = make_optimizer(p, TrainSpec())
    assert type(default) is Adam and (default.beta1, default.beta2, default.eps) == (0.9, 0.999, 1e-8)  # Kingma & Ba's
    with pytest.raises(ValueError) as refused:
        make_optimizer(p, SimpleNamespace(optimizer="rmsprop"))  # one the spec would refuse first
    assert str(refused.value) == "unknown optimizer 'rmsprop'"

