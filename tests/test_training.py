import numpy as np
import pytest

from sparana_cli.engine.backend import CPU, to_host
from sparana_cli.engine.metrics import accuracy
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainSpec
from tests.conftest import make_images


def data(n=400, seed=1):
    x, y = make_images(n, seed)
    return x.reshape(n, -1).astype(np.float32) / 255, y.astype(np.int64)


def trained(seed, epochs=3, backend=CPU, **train):
    x, y = map(backend.asarray, data())
    net = Network.xavier([36, 20, 16, 10], seed=seed, backend=backend)
    trainer = Trainer(net, TrainSpec(**{"batch_size": 32, "lr": 0.01, **train}), loss="quadratic", seed=seed)
    for epoch in range(epochs):
        trainer.epoch(x, y, epoch)
    return net


@pytest.mark.parametrize("train", [{}, {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}])
def test_learns_the_tiny_task(backend, train):
    net = trained(0, epochs=5, backend=backend, **train)
    xt, yt = map(backend.asarray, data(200, seed=2))
    assert accuracy(net, xt, yt) > 0.9


@pytest.mark.parametrize("train", [{}, {"dropout": 0.3, "l1": 1e-4, "l2": 1e-3, "clip": 1.0},
                                   {"optimizer": "sgd", "momentum": 0.9}])
def test_same_seed_gives_bitwise_identical_weights(train):
    a, b = trained(5, **train), trained(5, **train)
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        assert wa.tobytes() == wb.tobytes()
    c = trained(6, **train)
    assert not np.array_equal(a.weights[0], c.weights[0])


@pytest.mark.parametrize("train", [{}, {"dropout": 0.3, "l1": 1e-3, "l2": 1e-3},
                                   {"optimizer": "sgd", "momentum": 0.9, "clip": 0.5}])
def test_masked_weights_stay_exactly_zero(backend, train):
    x, y = map(backend.asarray, data())
    net = Network.xavier([36, 20, 16, 10], seed=0, backend=backend)
    rng = np.random.default_rng(0)
    for i in range(3):
        net.masks[i] = backend.asarray(rng.random(net.weights[i].shape) > 0.5)
    net.apply_masks()
    before = [to_host(w).copy() for w in net.weights]
    trainer = Trainer(net, TrainSpec(batch_size=32, lr=0.01, **train), loss="quadratic", seed=0)
    for epoch in range(3):
        trainer.epoch(x, y, epoch)
    for w, m, old in zip(map(to_host, net.weights), map(to_host, net.masks), before):
        assert np.all(w[~m] == 0.0)
        assert np.any(w[m] != old[m])  # the live weights did train


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_masked_weights_are_re_zeroed_after_every_step(optimizer):
    """A masked weight gets no gradient, but optimizer state it carries from before (Adam's m, SGD's velocity: a
    resumed or fine-tuned run) still moves it; the step must put it back to exactly zero."""
    net = Network.xavier([36, 8, 10], seed=0, dtype="float64")
    cfg = TrainSpec(optimizer=optimizer, lr=0.1, momentum=0.9, batch_size=16)
    x, y = make_images(32, seed=4)
    x = x.reshape(32, -1) / 255.0
    net.masks[0][:5, :] = False
    net.apply_masks()
    trainer = Trainer(net, cfg, loss="quadratic", seed=0)
    slots = {name: [np.ones_like(a) for a in arrays] for name, arrays in trainer.optimizer.state().items()}
    trainer.optimizer.load_state(3, slots)  # state that pushes every parameter, the masked weights included
    trainer.load_batch(x, np.arange(16))
    trainer.step(16, y[:16])
    assert np.all(net.weights[0][:5, :] == 0)
    assert np.any(net.weights[0][5:, :] != 0)
