"""A ReLU MLP as a model file holds it: PyTorch `nn.Sequential` names and layouts, checked layer by layer.

PyTorch's `nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))` saves `0.weight`
(out, in), `0.bias` (out,), `2.weight`, `2.bias` (the ReLU at index 1 has no parameters). Sparana
stores weights (in, out); this module turns one into the other, exactly (a transpose moves bits,
it never rounds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparana_cli.errors import UserError

NAME = re.compile(r"(?P<prefix>(?:[A-Za-z_][A-Za-z0-9_]*\.)*)(?P<index>\d+)\.(?P<kind>weight|bias)")
ACCEPTED_NAMES = "[PREFIX.]<i>.weight (out, in) and [PREFIX.]<i>.bias (out,), i the nn.Sequential index"


@dataclass
class Mlp:
    """weights[i] (in, out) and biases[i] (out,) of each layer; ReLU between them; the output activation if stated."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    names: list[str]  # where each layer's weights are in the file (tensor or node name), for error messages
    output: str | None = None  # linear | softmax | None: the file does not say
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]


def shown(name: str, width: int = 80) -> str:
    """A name read from a file, fit for a one-line message: control characters as '?', at most `width` characters."""
    text = "".join(c if c.isprintable() else "?" for c in str(name))
    return text if len(text) <= width else text[:width] + "..."


def sequential_names(n_layers: int) -> list[tuple[str, str]]:
    """(weight name, bias name) of each Linear in nn.Sequential(Linear, ReLU, Linear, ..., Linear)."""
    return [(f"{2 * i}.weight", f"{2 * i}.bias") for i in range(n_layers)]


def sequential_tensors(weights: list[np.ndarray], biases: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The state dict of the equivalent nn.Sequential: weights transposed to (out, in)."""
    tensors = {}
    for (wname, bname), w, b in zip(sequential_names(len(weights)), weights, biases):
        tensors[wname] = np.ascontiguousarray(w.T)
        tensors[bname] = b
    return tensors


def mlp_from_tensors(tensors: dict[str, np.ndarray], path: Path) -> Mlp:
    """Weights (in, out) and biases of the Linear layers a state dict names, in index order; anything else refused."""
    layers: dict[int, dict[str, tuple[str, np.ndarray]]] = {}
    prefixes = set()
    for raw_name, array in tensors.items():
        name = shown(raw_name)
        match = NAME.fullmatch(raw_name)
        if match is None:
            raise UserError(f"{path}: tensor {name}: not a Linear layer's weight or bias (accepted names: {ACCEPTED_NAMES})")
        prefixes.add(match["prefix"])
        if len(prefixes) > 1:
            raise UserError(f"{path}: tensor {name}: its prefix differs from the others' "
                            f"({' and '.join(shown(p, 30) for p in sorted(prefixes))}); one nn.Sequential is accepted")
        layers.setdefault(int(match["index"]), {})[match["kind"]] = (name, array)
    if not layers:
        raise UserError(f"{path}: holds no tensors (expected {ACCEPTED_NAMES})")
    weights, biases, names = [], [], []
    for index in sorted(layers):
        parts = layers[index]
        if "weight" not in parts:
            raise UserError(f"{path}: tensor {parts['bias'][0]}: a bias without a weight")
        wname, w = parts["weight"]
        check_float(w, wname, path)
        if w.ndim != 2:
            what = "a convolution kernel" if w.ndim in (3, 4, 5) else f"a {w.ndim}-D tensor"
            raise UserError(f"{path}: tensor {wname}: {what} of shape {w.shape}; only Linear layers (2-D weights) "
                            "are accepted")
        bname, b = parts.get("bias", (None, np.zeros(w.shape[0], w.dtype)))  # Linear(bias=False)
        if bname is not None:
            check_float(b, bname, path)
        if b.shape != (w.shape[0],):
            raise UserError(f"{path}: tensor {bname}: shape {b.shape}, but {wname} {w.shape} has {w.shape[0]} outputs")
        if weights and w.shape[1] != weights[-1].shape[1]:
            raise UserError(f"{path}: tensor {wname}: takes {w.shape[1]} inputs, but the layer before gives "
                            f"{weights[-1].shape[1]}")
        weights.append(np.ascontiguousarray(w.T))
        biases.append(b)
        names.append(f"tensor {wname}")
    return Mlp(*same_dtype(weights, biases), names)


def check_float(array: np.ndarray, name: str, path: Path) -> None:
    if array.dtype not in (np.float32, np.float64):
        raise UserError(f"{path}: tensor {name}: dtype {array.dtype}; weights must be floating point")
    if not np.isfinite(array).all():
        raise UserError(f"{path}: tensor {name}: holds NaN or infinite values")


def same_dtype(weights: list, biases: list) -> tuple[list, list]:
    """Every array float64 when all are, else float32 (a network has one dtype)."""
    dtype = np.float64 if all(a.dtype == np.float64 for a in (*weights, *biases)) else np.float32
    return [w.astype(dtype, copy=False) for w in weights], [b.astype(dtype, copy=False) for b in biases]


def check_fits(mlp: Mlp, n_features: int, n_classes: int, path: Path, data: str) -> None:
    """The network maps the data's features to its classes, or a UserError naming the first or last layer."""
    if mlp.sizes[0] != n_features:
        raise UserError(f"{path}: {mlp.names[0]}: takes {mlp.sizes[0]} inputs, but {data} has {n_features} features")
    if mlp.sizes[-1] != n_classes:
        raise UserError(f"{path}: {mlp.names[-1]}: gives {mlp.sizes[-1]} outputs, but {data} has {n_classes} classes")
