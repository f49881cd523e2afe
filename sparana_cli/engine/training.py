"""Mini-batch training of a Network in place: penalties, clipping, masks held at zero, optimizer state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sparana_cli.engine.backend import Backend, backend_of
from sparana_cli.engine.network import Network, Workspace, backward, forward_train, skip_dropout
from sparana_cli.engine.optimizers import make_optimizer
from sparana_cli.seeding import generator


@dataclass
class EpochProgress:
    """Where training stands inside one epoch: the steps taken and their running sums."""

    epoch: int
    step: int = 0  # steps of this epoch already taken
    loss_sum: Any = 0.0  # summed loss of those steps (a 0-d device array while training)
    correct: Any = 0  # correct predictions in those steps (likewise)
    seconds: float = 0.0  # time already spent on this epoch before a stop


class Trainer:
    """Owns what persists between steps: the workspace, optimizer state and random streams.

    `cfg` is a TrainSpec (optimizer, lr, batch_size, l1, l2, dropout, clip, ...). Weights whose
    mask is False get no gradient and are re-zeroed after every step, so they stay exactly zero.

    `trainable` (one array of flat weight indices per layer, from analysis/trainable.py) trains
    only those weights: the optimizer steps gathered copies of them, which are written back
    after each step, and every other weight and every bias keeps its value bit for bit.

    `rewirer` (dynamic sparse training, analysis/dynamic_sparse.py) changes the masks at the steps
    it says are due, from the weights and the step's dense gradient; a weight that was not live before
    starts at zero with zeroed optimizer state, and a dropped weight is zeroed.
    """

    def __init__(self, net: Network, cfg, *, loss: str, seed: int, trainable: list | None = None, rewirer=None):
        self.net, self.cfg, self.loss, self.seed, self.rewirer = net, cfg, loss, seed, rewirer
        self.backend: Backend = backend_of(net.weights[0])
        xp = self.backend.xp
        self.ws = Workspace(net, cfg.batch_size, dropout=cfg.dropout, trainable=trainable)
        if trainable is None:
            self.indices = None
            self.weight_params = net.weights
            self.params = [p for pair in zip(net.weights, net.biases) for p in pair]
            self.grads = [g for pair in zip(self.ws.grad_w, self.ws.grad_b) for g in pair]
            self.masked = [i for i, m in enumerate(net.masks) if not bool(m.all())]
        else:
            self.indices = [xp.asarray(t) for t in trainable]
            self.weight_params = [w.reshape(-1)[t] for w, t in zip(net.weights, self.indices)]  # (K_i,) copies
            self.params = self.weight_params
            self.grads = self.ws.grad_w
            self.masked = []  # trainable indices never name a masked weight
        self.optimizer = make_optimizer(self.params, cfg)
        self.scratch = [xp.empty_like(w) for w in self.weight_params] if (cfg.l1 or cfg.l2) else None

    def compute_gradients(self, n: int, labels, dropout_rng=None):
        """Gradients of the penalised mean loss on the n rows in ws.acts[0], into self.grads.

        Returns (summed loss, correct predictions) as 0-d device arrays.
        """
        z = forward_train(self.net, self.ws, n, dropout_rng)
        correct = (z.argmax(axis=1) == labels).sum()
        total = backward(self.net, self.ws, n, labels, loss=self.loss)
        if self.rewirer is not None and self.rewirer.due(self.optimizer.t + 1):
            self._rewire(self.optimizer.t + 1)
        self._shape_gradients()
        return total, correct

    def _rewire(self, t: int) -> None:
        """Replace the masks of the layers the rewirer changes at step t (before the step's update)."""
        slots = list(self.optimizer.state().values())
        for i, mask in self.rewirer.new_masks(t, self.net, self.ws.grad_w).items():
            survivors = self.net.masks[i] & mask  # a weight dropped and regrown at once keeps its value (as RigL's)
            self.net.masks[i] = mask
            self.net.weights[i] *= survivors
            for arrays in slots:
                arrays[2 * i] *= survivors  # params alternate weights and biases
            if i not in self.masked:
                self.masked.append(i)

    def load_batch(self, x, rows) -> None:
        """Put rows of x into the workspace's input batch: x is a float array, or rows held as stored with a
        fill_rows(rows, out) method (data.features.Features), made float32 one batch at a time."""
        out = self.ws.acts[0][:rows.shape[0]]
        if hasattr(x, "fill_rows"):
            x.fill_rows(rows, out)
        else:
            self.backend.take_rows(x, rows, out)

    def step(self, n: int, labels, dropout_rng=None):
        """One update on the n rows already in ws.acts[0]; returns (summed loss, correct) as 0-d arrays."""
        total, correct = self.compute_gradients(n, labels, dropout_rng)
        self.optimizer.step(self.grads)
        if self.indices is not None:
            for w, t, p in zip(self.net.weights, self.indices, self.weight_params):
                w.reshape(-1)[t] = p
        for i in self.masked:
            self.net.weights[i] *= self.net.masks[i]
        return total, correct

    def _shape_gradients(self) -> None:
        """Add the L1/L2 penalties, drop masked coordinates, clip the global norm."""
        xp, cfg, net, ws = self.backend.xp, self.cfg, self.net, self.ws
        for i, (w, g) in enumerate(zip(self.weight_params, ws.grad_w)):
            if cfg.l2:
                xp.multiply(w, cfg.l2, out=self.scratch[i])
                g += self.scratch[i]
            if cfg.l1:
                xp.sign(w, out=self.scratch[i])
                self.scratch[i] *= cfg.l1
                g += self.scratch[i]
        for i in self.masked:
            ws.grad_w[i] *= net.masks[i]
        if cfg.clip:
            squared = sum(xp.vdot(g.ravel(), g.ravel()) for g in self.grads)
            scale = xp.minimum(1.0, cfg.clip / (xp.sqrt(squared) + 1e-12)).astype(net.dtype)
            for g in self.grads:
                g *= scale

    def epoch(self, x, y, epoch: int, on_batch: Callable | None = None) -> tuple[float, float]:
        """One shuffled pass over x (n, features), y (n,) on the device; returns (mean loss, accuracy).

        x is a float array, or rows held as stored with a fill_rows(rows, out) method (data.features.Features).
        """
        progress = EpochProgress(epoch)
        self.advance(x, y, progress, on_batch)
        return float(progress.loss_sum) / x.shape[0], float(progress.correct) / x.shape[0]

    def advance(self, x, y, progress: EpochProgress, on_batch: Callable | None = None,
                stop: Callable[[], bool] | None = None) -> bool:
        """Take the remaining steps of progress.epoch, updating progress; False when stop() ended it early.

        Shuffling and dropout draw from streams named by the epoch number, and a resumed epoch
        first replays the dropout draws of the steps already taken, so every step is the same
        whether or not the run stopped before it. stop() is asked after each step but the last;
        on_batch(rows, loss_sum) is called after each step with the running summed loss.
        """
        xp, n_total, batch = self.backend.xp, x.shape[0], self.cfg.batch_size
        order = self.backend.asarray(generator(self.seed, f"shuffle-{progress.epoch}").permutation(n_total))
        dropout_rng = self.backend.random(self.seed, f"dropout-{progress.epoch}") if self.cfg.dropout else None
        if dropout_rng is not None:
            skip_dropout(self.ws, batch, progress.step, dropout_rng)  # steps before the last are full batches
        loss_sum = xp.asarray(progress.loss_sum, dtype=self.net.dtype).copy()
        correct = xp.asarray(progress.correct, dtype=xp.int64).copy()
        try:
            for start in range(progress.step * batch, n_total, batch):
                rows = order[start:start + batch]
                n = rows.shape[0]
                self.load_batch(x, rows)
                loss, hits = self.step(n, y[rows], dropout_rng)
                loss_sum += loss
                correct += hits
                progress.step += 1
                if on_batch is not None:
                    on_batch(n, loss_sum)
                if stop is not None and start + batch < n_total and stop():
                    return False
            return True
        finally:
            progress.loss_sum, progress.correct = loss_sum, correct


def train_steps(net: Network, x, y, cfg, *, loss: str, steps: int, seed: int, stream: str, on_step=None,
                trainable: list | None = None) -> None:
    """Take `steps` training steps on net in place, batches drawn from seeded reshuffles of the rows of (x, y).

    For short fine-tunes counted in steps rather than epochs (a reshuffle whenever fewer than a
    batch of rows is left); masked weights stay zero. on_step(step) is called after each step.
    trainable: as Trainer's (only those weights move; every bias keeps its value).
    """
    trainer = Trainer(net, cfg, loss=loss, seed=seed, trainable=trainable)
    n, batch = x.shape[0], min(cfg.batch_size, x.shape[0])
    rng = generator(seed, stream)
    order, position = None, n
    for step in range(1, steps + 1):
        if position + batch > n:
            order, position = rng.permutation(n), 0
        rows = trainer.backend.asarray(order[position:position + batch])
        position += batch
        trainer.load_batch(x, rows)
        trainer.step(batch, y[rows])
        if on_step is not None:
            on_step(step)
