"""fit: the training loop every phase shares (train, prune's fine-tuning, forget's retrain and relearn test).

It sits below the phases so that none of them imports another: a phase builds a network, moves
its data to the device with device_splits and calls fit, which reports each finished epoch to an
`on_epoch` callback (training uses it to write checkpoints).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from sparana_cli.analysis.dynamic_sparse import Rewirer, initial_masks, layer_densities
from sparana_cli.analysis.trainable import choose_trainable, describe_trainable
from sparana_cli.data import Dataset
from sparana_cli.engine.backend import Backend
from sparana_cli.engine.footprint import refuse_if_too_big, training_footprint
from sparana_cli.engine.metrics import accuracy
from sparana_cli.engine.network import Network
from sparana_cli.engine.optimizers import make_optimizer
from sparana_cli.engine.training import EpochProgress, Trainer
from sparana_cli.errors import UserError
from sparana_cli.spec import Spec
from sparana_cli.ui import Console, percent

HISTORY_KEYS = ("loss", "train_accuracy", "val_accuracy", "seconds")


class TrainingStopped(Exception):
    """fit stopped because stop() said so; the state at `progress` was saved first."""

    def __init__(self, progress: EpochProgress):
        super().__init__(f"stopped in epoch {progress.epoch + 1} after step {progress.step}")
        self.progress = progress


class NotFinite(Exception):
    """The loss or the weights became NaN or infinite; nothing was saved from that state."""


def build_network(spec: Spec, dataset: Dataset, backend: Backend) -> Network:
    """A freshly initialised network for the spec's model section and the dataset's shape, once it is known to fit."""
    m = spec.model
    sizes = [dataset.n_features, *m.hidden, dataset.n_classes]
    check_memory(spec, sizes, dataset, backend)
    net = Network.xavier(sizes, output=m.output, bias=m.bias, dtype=m.dtype, seed=spec.seed, backend=backend)
    if spec.train.sparse.method != "none":  # sparse from the first step: random masks at the layers' densities
        shapes = [w.shape for w in net.weights]
        masks = initial_masks(shapes, sparse_densities(spec, shapes), spec.seed)
        net.masks = [backend.asarray(m) for m in masks]
        net.apply_masks()
    return net


def sparse_densities(spec: Spec, shapes: list) -> list[float]:
    """Each weight matrix's density under the spec's train.sparse section."""
    s = spec.train.sparse
    return layer_densities(shapes, s.density, s.distribution, s.densities)


def total_steps(spec: Spec, n: int, epochs: int | None = None) -> int:
    """Optimizer steps of a training run over n images."""
    return (spec.train.epochs if epochs is None else epochs) * math.ceil(n / spec.train.batch_size)


def check_memory(spec: Spec, sizes: list[int], dataset: Dataset | None, backend: Backend) -> None:
    """Refuse (naming the key to change) a network or batch whose training cannot fit the device's memory.

    With no dataset (a sweep's check of its points, before any data are read) the smallest data the spec
    could meet stand in: one input, two classes, no bytes of data; what cannot fit then never fits.
    """
    if dataset is None:
        sizes, data = [1, *spec.model.hidden, 2], 0
    else:
        data = sum({id(x.stored): x.nbytes for x in (dataset.x_train, dataset.x_val, dataset.x_test)}.values())  # splits share
    slots = len(make_optimizer([np.zeros(1, np.float32)], spec.train).state())
    need = training_footprint(sizes, batch=spec.train.batch_size, itemsize=np.dtype(spec.model.dtype).itemsize,
                              optimizer_slots=slots, dropout=spec.train.dropout > 0, data_bytes=data)
    key = "train.batch_size" if need.batch > need.parameters + need.inference else "model.hidden"
    what = (f"training {'-'.join(map(str, sizes))} in batches of {spec.train.batch_size} "
            "(weights, optimizer state, one batch's activations, data)")
    refuse_if_too_big(need.total, backend.free_memory(), what, key)


def check_rewind_step(spec: Spec, n_train: int) -> None:
    """train.rewind_step must name a step the run takes."""
    k, steps = spec.train.rewind_step, total_steps(spec, n_train)
    if k is not None and k > steps:
        raise UserError(f"train.rewind_step: {k} is past the run's last step ({steps} steps: {spec.train.epochs} epochs "
                        f"of {n_train} images in batches of {spec.train.batch_size})")


def fit(net: Network, spec: Spec, train_xy, val_xy, console: Console, *, epochs: int | None = None,
        label: str = "epoch", resume=None, on_epoch=None, stop=None, on_step=None,
        rewire: bool = False) -> dict[str, list[float]]:
    """Train net in place on device arrays; return per-epoch loss, train accuracy, validation accuracy, seconds.

    Train accuracy is measured on the training batches as they were seen (with dropout, while
    the weights moved); validation accuracy after each epoch. With train.trainable only the
    chosen weights move (maav scores them on x as the network is before training; a resumed run
    keeps the checkpoint's choice). With `resume` (a store.checkpoint.Checkpoint) training continues
    from that checkpoint's state (net must already hold its weights). on_epoch(optimizer, progress,
    history, trainable) is called after every epoch and, before TrainingStopped is raised, when
    stop() ends training early.
    A NaN or infinite loss or weight raises NotFinite and saves nothing.
    on_step(t) is called after every optimizer step t (1-based, counted over the whole run). With
    `rewire` and a train.sparse method set or rigl, the masks change during training (dynamic sparse training).
    """
    x, y = train_xy
    n = x.shape[0]
    trainable = resume.trainable if resume is not None else choose_trainable(net, spec.train.trainable, x, seed=spec.seed)
    if trainable is not None:
        console.say(describe_trainable(net, trainable))
    epochs = spec.train.epochs if epochs is None else epochs
    rewirer = None
    if rewire and spec.train.sparse.method in ("set", "rigl"):
        densities = sparse_densities(spec, [w.shape for w in net.weights])
        rewirer = Rewirer(spec.train.sparse, densities, total_steps(spec, n, epochs), spec.seed)
    trainer = Trainer(net, spec.train, loss=spec.model.loss, seed=spec.seed, trainable=trainable, rewirer=rewirer)
    history = {key: list(resume.history.get(key, [])) if resume else [] for key in HISTORY_KEYS}
    progress = dataclasses.replace(resume.progress) if resume else EpochProgress(0)  # never move the caller's
    if resume is not None:
        trainer.optimizer.load_state(resume.t, resume.slots)
    while progress.epoch < epochs:
        epoch, started = progress.epoch, time.perf_counter()
        bar = console.bar(n, f"{label} {epoch + 1}/{epochs}")
        bar.update(min(n, progress.step * spec.train.batch_size))
        batches = 0

        def on_batch(rows, loss_sum, bar=bar):
            nonlocal batches
            batches += 1
            bar.update(rows)
            if on_step is not None:
                on_step(trainer.optimizer.t)
            if not bar.disable and batches % 16 == 0:  # reading the loss syncs the device: not every step
                bar.set_postfix(loss=f"{float(loss_sum) / bar.n:.4f}")

        with trainer.backend.quiet_float_errors():  # a diverging loss is reported once, below
            finished = trainer.advance(x, y, progress, on_batch, stop)
        if not finished:
            bar.close()
            progress.seconds += time.perf_counter() - started
            _check_finite(trainer, float(progress.loss_sum), epoch)
            if on_epoch is not None:
                on_epoch(trainer.optimizer, progress, history, trainable)
            raise TrainingStopped(progress)
        loss, train_acc = float(progress.loss_sum) / n, float(progress.correct) / n
        _check_finite(trainer, loss, epoch)
        with trainer.backend.quiet_float_errors():
            val_acc = accuracy(net, *val_xy) if val_xy[0].shape[0] else float("nan")
        seconds = progress.seconds + time.perf_counter() - started
        for key, value in zip(HISTORY_KEYS, (loss, train_acc, val_acc, seconds)):
            history[key].append(value)
        bar.set_postfix(loss=f"{loss:.4f}", val=percent(val_acc))
        bar.close()
        if bar.disable:
            console.say(f"{label} {epoch + 1}/{epochs}  loss {loss:.4f}  train {percent(train_acc)}  "
                        f"val {percent(val_acc)}  {seconds:.2f} s")
        progress = EpochProgress(epoch + 1)
        if on_epoch is not None:
            on_epoch(trainer.optimizer, progress, history, trainable)
        if stop is not None and progress.epoch < epochs and stop():
            raise TrainingStopped(progress)
    return history


def _check_finite(trainer: Trainer, loss: float, epoch: int) -> None:
    xp = trainer.backend.xp
    if not math.isfinite(loss):
        raise NotFinite(f"the training loss became {loss} in epoch {epoch + 1}")
    if not all(bool(xp.isfinite(p).all()) for p in trainer.params):
        raise NotFinite(f"the weights became NaN or infinite in epoch {epoch + 1}")


def device_splits(dataset: Dataset, backend: Backend) -> dict:
    """The dataset's splits on the device: {"train": (x, y), "val": ..., "test": ...}.

    x stays as stored (bytes for images: a quarter of float32's size); indexing it gives rows of
    float32 inputs, converted a batch or chunk at a time.
    """
    put, moved = backend.asarray, {}  # the training and validation rows share one stored pool: moved once
    return {
        "train": (dataset.x_train.on(put, moved), put(dataset.y_train)),
        "val": (dataset.x_val.on(put, moved), put(dataset.y_val)),
        "test": (dataset.x_test.on(put, moved), put(dataset.y_test)),
    }


