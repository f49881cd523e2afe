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


def test_a_network_of_one_layer_learns_the_tiny_task():
    x, y = data()
    net = Network.xavier([36, 10], output="softmax", seed=0)  # no hidden layer: softmax regression
    trainer = Trainer(net, TrainSpec(batch_size=32, lr=0.05), loss="cross_entropy", seed=0)
    for epoch in range(5):
        trainer.epoch(x, y, epoch)
    xt, yt = data(200, seed=2)
    assert accuracy(net, xt, yt) > 0.8


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


def _quadratic_loss_sum(net, x, y):
    z = net.predict(x)
    t = np.eye(z.shape[1])[y]
    return 0.5 * float(((z - t) ** 2).sum())


def test_an_epoch_returns_the_mean_loss_and_accuracy_over_every_row():
    """With a learning rate of 0 the network never changes, so the epoch's figures are those of the whole set."""
    x, y = data(200)
    net = Network.xavier([36, 20, 10], seed=0, dtype="float64")  # right on 19.5% of the rows
    trainer = Trainer(net, TrainSpec(optimizer="sgd", lr=0.0, batch_size=32), loss="quadratic", seed=0)
    mean_loss, acc = trainer.epoch(x.astype(np.float64), y, 0)
    assert mean_loss == pytest.approx(_quadratic_loss_sum(net, x, y) / 200, rel=1e-9)
    assert acc == accuracy(net, x, y)
    assert 0.0 < acc < 1.0


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_an_epoch_stopped_after_any_step_and_continued_equals_an_uninterrupted_one(dropout):
    from sparana_cli.engine.training import EpochProgress

    x, y = data(200)  # 5 steps of 40
    cfg = TrainSpec(batch_size=40, lr=0.01, dropout=dropout)
    whole = Network.xavier([36, 20, 10], seed=3)
    loss, acc = Trainer(whole, cfg, loss="quadratic", seed=1).epoch(x, y, 2)
    net = Network.xavier([36, 20, 10], seed=3)
    trainer = Trainer(net, cfg, loss="quadratic", seed=1)
    progress, asked, calls = EpochProgress(2), [], 0
    assert (progress.step, progress.loss_sum, progress.correct) == (0, 0.0, 0)
    while calls < 10:
        calls += 1  # each call draws its streams afresh, as a resumed process does
        if trainer.advance(x, y, progress, stop=lambda: asked.append(1) or True):
            break
    assert calls == 5 and len(asked) == 4 and progress.step == 5  # never asked after the last step
    assert float(progress.loss_sum) / 200 == pytest.approx(loss, rel=1e-6) and float(progress.correct) / 200 == acc
    for a, b in zip(whole.weights + whole.biases, net.weights + net.biases):
        assert a.tobytes() == b.tobytes()


def test_clipping_scales_the_global_gradient_norm_down_to_the_limit_and_never_up():
    x, y = data(64)

    def gradients(clip):
        net = Network.xavier([36, 20, 10], seed=3, dtype="float64")
        trainer = Trainer(net, TrainSpec(batch_size=64, clip=clip), loss="quadratic", seed=0)
        trainer.load_batch(x.astype(np.float64), np.arange(64))
        trainer.compute_gradients(64, y)
        return [g.copy() for g in trainer.grads]

    free = gradients(None)
    norm = np.sqrt(sum(float((g * g).sum()) for g in free))
    clipped = gradients(norm / 4)
    for g, f in zip(clipped, free):
        np.testing.assert_allclose(g, f / 4, rtol=1e-9)
    for g, f in zip(gradients(norm * 4), free):
        np.testing.assert_array_equal(g, f)


class _RecordedRows:
    """Training rows that record which rows each step loads (a stand-in for data.features.Features)."""

    def __init__(self, x):
        self.x, self.shape, self.loaded = x, x.shape, []

    def fill_rows(self, rows, out):
        self.loaded.append(np.asarray(rows).copy())
        out[...] = self.x[rows]


@pytest.mark.parametrize("n, batch_size", [(100, 30), (90, 30), (20, 64)])  # a remainder left out; none; fewer rows than a batch
def test_train_steps_takes_consecutive_batches_of_seeded_reshuffles(n, batch_size):
    from sparana_cli.engine.training import train_steps
    from sparana_cli.seeding import generator

    x, y = data(100)
    x, y = x[:n, :16], y[:n]  # fewer features than rows: a batch is never sized by the wrong axis
    rows, seen = _RecordedRows(x), []
    net = Network.xavier([16, 20, 10], seed=3)
    train_steps(net, rows, y, TrainSpec(batch_size=batch_size, lr=0.01), loss="quadratic", steps=7, seed=4,
                stream="tune", on_step=seen.append)
    assert seen == list(range(1, 8))
    rng, batch, expected = generator(4, "tune"), min(batch_size, n), []
    while len(expected) < 7:  # every full batch of a shuffle, then a new shuffle
        order = rng.permutation(n)
        expected += [order[i:i + batch] for i in range(0, n - batch + 1, batch)]
    assert len(rows.loaded) == 7
    for got, want in zip(rows.loaded, expected):
        np.testing.assert_array_equal(got, want)


def test_train_steps_moves_only_the_trainable_weights():
    from sparana_cli.engine.training import train_steps

    x, y = data(100)
    net = Network.xavier([36, 20, 10], seed=3)
    before = net.copy()
    chosen = [np.array([0, 5, 77]), np.array([3, 19])]
    train_steps(net, x, y, TrainSpec(batch_size=25, lr=0.01), loss="quadratic", steps=3, seed=0, stream="t",
                trainable=chosen)
    for w, old, t in zip(net.weights, before.weights, chosen):
        changed = np.flatnonzero(w.reshape(-1) != old.reshape(-1))
        np.testing.assert_array_equal(changed, t)
        assert np.all(np.isfinite(w))
    for b, old in zip(net.biases, before.biases):
        np.testing.assert_array_equal(b, old)


class _SwapOnce:
    """A rewirer that, at step 2 only, drops the first two live weights of layer 1's row 0 and grows two dead ones."""

    def __init__(self, net):
        self.asked, self.net, self.rewired_at = [], net, None

    def due(self, t):
        self.asked.append(t)
        return t == 2

    def new_masks(self, t, net, grads):
        self.rewired_at = t
        mask = net.masks[1].copy()
        live, dead = np.flatnonzero(mask[0]), np.flatnonzero(~mask[0])
        self.dropped, self.grown = live[:2], dead[:2]
        mask[0, self.dropped], mask[0, self.grown] = False, True
        return {1: mask}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_rewiring_zeroes_dropped_weights_and_their_optimizer_state_at_the_step_it_is_due(optimizer):
    x, y = data(64)
    net = Network.xavier([36, 20, 10], seed=3)
    net.masks[1][0, ::2] = False  # layer 1 is sparse in row 0 from the start, layer 0 is dense
    net.apply_masks()
    rewirer = _SwapOnce(net)
    trainer = Trainer(net, TrainSpec(optimizer=optimizer, lr=0.01, momentum=0.9, batch_size=32), loss="quadratic",
                      seed=0, rewirer=rewirer)
    trainer.load_batch(x, np.arange(32))
    trainer.step(32, y[:32])
    assert rewirer.asked == [1] and rewirer.rewired_at is None
    trainer.step(32, y[32:])
    assert rewirer.asked == [1, 2] and rewirer.rewired_at == 2
    row = net.weights[1][0]
    assert np.all(row[rewirer.dropped] == 0) and np.all(row[rewirer.grown] != 0)  # grown at 0, then trained
    assert np.array_equal(net.masks[1][0], row != 0)
    for arrays in trainer.optimizer.state().values():
        state = arrays[2]  # parameters alternate weights and biases: layer 1's weights are parameter 2
        assert state.dtype == net.dtype and np.all(state[0, rewirer.dropped] == 0)
        assert np.any(state[0, 1::2] != 0)


def test_a_dense_layer_rewired_for_the_first_time_keeps_its_dropped_weights_at_zero():
    """A layer with no masked weight before is not re-masked by the step until a rewiring names it."""
    x, y = data(96)
    net = Network.xavier([36, 20, 10], seed=3)
    rewirer = _SwapOnce(net)
    trainer = Trainer(net, TrainSpec(lr=0.01, batch_size=32), loss="quadratic", seed=0, rewirer=rewirer)
    for start in (0, 32, 64):
        trainer.load_batch(x, np.arange(start, start + 32))
        trainer.step(32, y[start:start + 32])
    assert np.all(net.weights[1][0, rewirer.dropped] == 0) and 1 in trainer.masked
