"""Training checkpoints: all a run needs to continue exactly where it stopped, in one HDF5 file.

checkpoint.h5 lives in the unfinished run folder and is replaced atomically at every epoch end
and when a run is interrupted:
  /layers/<i>/{weights, bias, mask}   the network, as in model.h5
  /optimizer/<slot>/<j>               carried optimizer arrays (Adam: m, v; SGD with momentum:
                                      velocity) for parameter j = 2*layer (weights) or 2*layer+1 (bias)
  /history/<key>                      loss, train_accuracy, val_accuracy, seconds of the finished epochs
  /trainable/<i>                      with train.trainable: the flat indices of layer i's training weights
                                      (then parameter j of /optimizer is layer j's gathered weights)
  root attrs: epoch, step (steps of that epoch taken), loss_sum, correct (their running sums),
              seconds (time spent in that epoch so far), t (optimizer steps), optimizer,
              dataset_checksum, sparana_version
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sparana_cli import __version__
from sparana_cli.data.claims import read_dataset
from sparana_cli.engine.backend import to_host
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import EpochProgress
from sparana_cli.errors import UserError
from sparana_cli.files import atomic_path
from sparana_cli.store.layout import CHECKPOINT_ATTRS, check_attrs, plain
from sparana_cli.store.runs import network_bytes, open_h5, read_network, write_network

CHECKPOINT_FILE = "checkpoint.h5"


@dataclass
class Checkpoint:
    """A saved training state (host arrays)."""

    net: Network
    t: int  # optimizer steps taken
    slots: dict[str, list[np.ndarray]]  # optimizer arrays by slot name, one per parameter
    progress: EpochProgress
    history: dict[str, list[float]]
    optimizer: str
    dataset_checksum: str
    trainable: list[np.ndarray] | None = None  # flat weight indices per layer under train.trainable


def save_checkpoint(folder: Path, net: Network, optimizer, progress: EpochProgress, history: dict,
                    *, optimizer_name: str, dataset_checksum: str, trainable: list | None = None) -> Path:
    """Write the training state to folder/checkpoint.h5, replacing the previous one in one step."""
    path = Path(folder) / CHECKPOINT_FILE
    state = optimizer.state()
    needs = network_bytes(net) + sum(int(a.nbytes) for arrays in state.values() for a in arrays)
    with atomic_path(path, needs=needs) as part, h5py.File(part, "w") as f:
        write_network(f, net, {
            "sparana_version": __version__,
            "epoch": progress.epoch,
            "step": progress.step,
            "loss_sum": to_host(progress.loss_sum)[()] if hasattr(progress.loss_sum, "shape") else progress.loss_sum,
            "correct": int(progress.correct),
            "seconds": progress.seconds,
            "t": optimizer.t,
            "optimizer": optimizer_name,
            "dataset_checksum": dataset_checksum,
        }, compress_masks=False)  # written every epoch and soon deleted: speed over size
        slots = f.create_group("optimizer")
        for name, arrays in state.items():
            g = slots.create_group(name)
            for j, array in enumerate(arrays):
                g.create_dataset(str(j), data=to_host(array))
        h = f.create_group("history")
        for key, values in history.items():
            h.create_dataset(key, data=np.asarray(values, dtype=np.float64))
        if trainable is not None:
            chosen = f.create_group("trainable")
            for i, indices in enumerate(trainable):
                chosen.create_dataset(str(i), data=to_host(indices).astype(np.int64))
    return path


def load_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint in a run folder, None when there is none yet; a damaged one is a UserError naming it."""
    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        return None
    with open_h5(path) as f:
        net = read_network(f, path)
        a = {k: plain(v) for k, v in f.attrs.items()}
        check_attrs(a, CHECKPOINT_ATTRS, str(path), required=True)
        progress = EpochProgress(int(a["epoch"]), int(a["step"]), a["loss_sum"], int(a["correct"]), float(a["seconds"]))
        if progress.epoch < 0 or progress.step < 0:
            raise UserError(f"{path}: negative epoch or step")
        trainable = _read_trainable(f, net, path) if "trainable" in f else None
        if trainable is None:
            shapes = [p.shape for pair in zip(net.weights, net.biases) for p in pair]
        else:
            shapes = [t.shape for t in trainable]
        slots = {}
        for name, g in f.get("optimizer", {}).items():
            arrays = [read_dataset(g[str(j)], f"{path}: /optimizer/{name}/{j}") if str(j) in g else None
                      for j in range(len(shapes))]
            for j, (array, shape) in enumerate(zip(arrays, shapes)):
                if array is None or array.shape != shape:
                    raise UserError(f"{path}: /optimizer/{name}/{j} is missing or does not match its parameter {shape}")
                if array.dtype.kind != "f" or not np.isfinite(array).all():
                    raise UserError(f"{path}: /optimizer/{name}/{j} must hold finite floats")
            slots[name] = arrays
        history = {key: read_dataset(d, f"{path}: /history/{key}").tolist() for key, d in f.get("history", {}).items()}
        if any(len(v) != progress.epoch for v in history.values()):
            raise UserError(f"{path}: history does not cover the {progress.epoch} finished epochs")
        return Checkpoint(net, a["t"], slots, progress, history, a["optimizer"], a["dataset_checksum"], trainable)


def _read_trainable(f: h5py.File, net: Network, path: Path) -> list[np.ndarray]:
    """The saved training-weight indices, one 1-D array per layer, each index a live weight of its layer."""
    g = f["trainable"]
    chosen = []
    for i, (w, m) in enumerate(zip(net.weights, net.masks)):
        if str(i) not in g:
            raise UserError(f"{path}: missing /trainable/{i}")
        indices = read_dataset(g[str(i)], f"{path}: /trainable/{i}")
        if indices.ndim != 1 or indices.dtype.kind not in "iu" or (indices.size and (
                indices.min() < 0 or indices.max() >= w.size or not m.reshape(-1)[indices].all())):
            raise UserError(f"{path}: /trainable/{i} must list live weights of layer {i} by flat index")
        chosen.append(indices.astype(np.int64))
    return chosen
