"""`sparana train`: build a network from a spec, train it, test it, write a run folder."""

from __future__ import annotations

import time
from pathlib import Path

from sparana_cli import runs
from sparana_cli.analysis.trainable import choose_trainable, describe_trainable
from sparana_cli.data import Dataset, load_dataset
from sparana_cli.engine.backend import Backend, resolve_backend
from sparana_cli.engine.metrics import accuracy, evaluate_network
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import Spec
from sparana_cli.ui import Console, percent


def build_network(spec: Spec, dataset: Dataset, backend: Backend) -> Network:
    """A freshly initialised network for the spec's model section and the dataset's shape."""
    m = spec.model
    sizes = [dataset.n_features, *m.hidden, dataset.n_classes]
    return Network.xavier(sizes, output=m.output, bias=m.bias, dtype=m.dtype, seed=spec.seed, backend=backend)


def fit(net: Network, spec: Spec, train_xy, val_xy, console: Console, *, epochs: int | None = None,
        label: str = "epoch") -> dict[str, list[float]]:
    """Train net in place on device arrays; return per-epoch loss, train accuracy and validation accuracy.

    Train accuracy is measured on the training batches as they were seen (with dropout, while
    the weights moved); validation accuracy after each epoch. With train.trainable only the
    chosen weights move (maav scores them on x as the network is before training).
    """
    x, y = train_xy
    trainable = choose_trainable(net, spec.train.trainable, x, seed=spec.seed)
    if trainable is not None:
        console.say(describe_trainable(net, trainable))
    trainer = Trainer(net, spec.train, loss=spec.model.loss, seed=spec.seed, trainable=trainable)
    epochs = spec.train.epochs if epochs is None else epochs
    history = {"loss": [], "train_accuracy": [], "val_accuracy": [], "seconds": []}
    for epoch in range(epochs):
        start = time.perf_counter()
        bar = console.bar(x.shape[0], f"{label} {epoch + 1}/{epochs}")
        seen = batches = 0

        def on_batch(n, loss_sum, bar=bar):
            nonlocal seen, batches
            seen, batches = seen + n, batches + 1
            bar.update(n)
            if not bar.disable and batches % 16 == 0:  # reading the loss syncs the device: not every step
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}")

        loss, train_acc = trainer.epoch(x, y, epoch, on_batch)
        val_acc = accuracy(net, *val_xy) if val_xy[0].shape[0] else float("nan")
        seconds = time.perf_counter() - start
        for key, value in zip(history, (loss, train_acc, val_acc, seconds)):
            history[key].append(value)
        bar.set_postfix(loss=f"{loss:.4f}", val=percent(val_acc))
        bar.close()
        if bar.disable:
            console.say(f"{label} {epoch + 1}/{epochs}  loss {loss:.4f}  train {percent(train_acc)}  "
                        f"val {percent(val_acc)}  {seconds:.2f} s")
    return history


def device_splits(dataset: Dataset, backend: Backend, dtype) -> dict:
    """The dataset's splits as device arrays: {"train": (x, y), "val": ..., "test": ...}."""
    put = backend.asarray
    return {
        "train": (put(dataset.x_train, dtype), put(dataset.y_train)),
        "val": (put(dataset.x_val, dtype), put(dataset.y_val)),
        "test": (put(dataset.x_test, dtype), put(dataset.y_test)),
    }


def train(spec: Spec, *, root: Path, console: Console) -> dict:
    """Train the spec's model and write runs/<name>-<time>/; return the summary."""
    backend = resolve_backend(spec.device)
    dataset = load_dataset(spec.data, spec.seed)
    if dataset.notice:
        console.warn(dataset.notice)
    console.say(f"training {'-'.join(map(str, [dataset.n_features, *spec.model.hidden, dataset.n_classes]))} "
                f"({spec.model.output}/{spec.model.loss}) on {dataset.name}: {len(dataset.y_train)} train, "
                f"{len(dataset.y_val)} validation, {len(dataset.y_test)} test images; {backend.describe()}")
    net = build_network(spec, dataset, backend)
    splits = device_splits(dataset, backend, net.dtype)
    start = time.perf_counter()
    history = fit(net, spec, splits["train"], splits["val"], console)
    backend.synchronize()
    seconds = time.perf_counter() - start
    test = evaluate_network(net, *splits["test"], dataset.n_classes)

    with runs.new_run(root, spec.name) as run:
        runs.write_spec(run.tmp, spec)
        attrs = runs.run_attrs(spec, dataset, phase="train", parent=None, backend=backend)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, attrs)
        runs.write_metrics(
            run.tmp / runs.METRICS_FILE,
            {"train": history, "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion}},
            {"train": {"test_accuracy": test.accuracy, "seconds": seconds, "epochs": spec.train.epochs},
             "test": {"accuracy": test.accuracy}},
        )
    return {
        "run": str(run.path),
        "test_accuracy": test.accuracy,
        "val_accuracy": history["val_accuracy"][-1],
        "train_loss": history["loss"][-1],
        "seconds": seconds,
        "seconds_per_epoch": seconds / spec.train.epochs,
        "epochs": spec.train.epochs,
        "dataset": dataset.name,
        "dataset_source": dataset.source,
        "device": backend.name,
        "per_class_accuracy": test.per_class.tolist(),
    }
