"""The memory a training run needs, estimated from its shape before anything is allocated, and the refusal when it cannot fit.

The estimate counts what the engine allocates (engine/network.py, engine/optimizers.py,
engine/training.py): weights and biases, the masks, the float64 draw of the initial weights,
gradients and the optimizer's slots, one batch's activations and deltas (and dropout's buffers),
the inference chunk (PREDICT_CHUNK rows), and the data held as stored. It is a lower bound of the peak: the
interpreter and libraries come on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparana_cli.engine.network import PREDICT_CHUNK
from sparana_cli.memory import refuse_if_too_big  # noqa: F401  (re-exported for fitting and the store)


@dataclass(frozen=True)
class Footprint:
    """Bytes by what holds them."""

    parameters: int  # weights, biases, masks, the initial draw, gradients, optimizer slots
    batch: int  # one training batch's activations, deltas and dropout buffers
    inference: int  # one inference chunk's activations
    data: int  # the splits as stored

    @property
    def total(self) -> int:
        return self.parameters + self.batch + self.inference + self.data


def training_footprint(sizes: list[int], *, batch: int, itemsize: int, optimizer_slots: int, dropout: bool,
                       data_bytes: int) -> Footprint:
    """What training a network of layer widths `sizes` (input first) in batches of `batch` holds at its peak."""
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    params = weights + sum(sizes[1:])
    parameters = params * itemsize * (2 + optimizer_slots) + weights * (1 + 8)  # + masks + float64 initial draw
    per_row = sum(sizes) * itemsize * 2 + (sum(sizes[1:-1]) * (itemsize + 1) if dropout else 0)  # acts, deltas
    return Footprint(parameters, batch * per_row, PREDICT_CHUNK * max(sizes) * itemsize * 2, data_bytes)
