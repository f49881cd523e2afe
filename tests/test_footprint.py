"""The memory estimate of a training run against the arrays the engine really allocates."""

import tracemalloc

import numpy as np
import pytest

from sparana_cli.engine.footprint import training_footprint
from sparana_cli.engine.network import PREDICT_CHUNK, Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import TrainSpec


def _nbytes(arrays):
    return sum(a.nbytes for a in arrays if a is not None)


@pytest.mark.parametrize("optimizer, slots, dropout, dtype", [("adam", 2, 0.3, "float32"), ("sgd", 0, 0.0, "float64")])
def test_the_estimate_counts_what_a_trainer_allocates(optimizer, slots, dropout, dtype):
    sizes, batch = [12, 9, 7, 4], 16
    net = Network.xavier(sizes, seed=0, dtype=dtype)
    trainer = Trainer(net, TrainSpec(optimizer=optimizer, batch_size=batch, dropout=dropout), loss="quadratic", seed=0)
    ws = trainer.ws
    held = (_nbytes(net.weights + net.biases + net.masks + ws.grad_w + ws.grad_b)
            + sum(_nbytes(arrays) for arrays in trainer.optimizer.state().values()))
    assert len(trainer.optimizer.state()) == slots
    weights = sum(w.size for w in net.weights)
    itemsize = np.dtype(dtype).itemsize
    estimate = training_footprint(sizes, batch=batch, itemsize=itemsize, optimizer_slots=slots, dropout=bool(dropout),
                                  data_bytes=1234)
    assert estimate.parameters == held + weights * 8  # and the float64 draw of the initial weights
    step = _nbytes(ws.acts + ws.delta + ws.keep + ws.noise)
    assert estimate.batch == step + batch * sizes[0] * itemsize  # the input's delta counted, as input gradients need it
    x = np.random.default_rng(0).random((PREDICT_CHUNK, sizes[0])).astype(dtype)
    tracemalloc.start()
    try:
        net.predict(x)  # one chunk: what inference holds beside its output array
        held_by_predict = tracemalloc.get_traced_memory()[1] - PREDICT_CHUNK * sizes[-1] * itemsize
    finally:
        tracemalloc.stop()
    assert 0 < held_by_predict <= estimate.inference
    assert estimate.data == 1234
    assert estimate.total == estimate.parameters + estimate.batch + estimate.inference + 1234
