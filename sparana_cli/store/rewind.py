"""rewind.h5: the weights a lottery-ticket round rewinds to, kept in a training run's folder beside model.h5.

A run trained with train.rewind_step = k writes it:
  /init/layers/<i>/{weights, bias, mask}   the network before the first step (attrs: step = 0)
  /step/layers/<i>/{weights, bias, mask}   the network after k optimizer steps (attrs: step = k); absent for k = 0
Each point is written as soon as it exists (the file replaced atomically), so an interrupted and
resumed run keeps what it had captured.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.files import atomic_path
from sparana_cli.store.runs import open_h5, read_network, write_network

REWIND_FILE = "rewind.h5"
POINTS = ("init", "step")


def write_rewind_point(folder: Path, name: str, step: int, net: Network) -> Path:
    """Add (or replace) rewind point `name` ("init" or "step"), the network after `step` steps, to folder/rewind.h5."""
    assert name in POINTS, name
    path = Path(folder) / REWIND_FILE
    with atomic_path(path) as part, h5py.File(part, "w") as out:
        if path.is_file():
            with h5py.File(path, "r") as old:
                for key in old:
                    if key != name:
                        old.copy(key, out)
        write_network(out.create_group(name), net, {"step": int(step)}, compress_masks=False)
    return path


def read_rewind(folder: Path) -> dict[str, tuple[int, Network]]:
    """The rewind points of a run folder: name -> (step, host network); {} when it kept none."""
    path = Path(folder) / REWIND_FILE
    if not path.is_file():
        return {}
    points = {}
    with open_h5(path) as f:
        for name in f:
            if name not in POINTS:
                raise UserError(f"{path}: unknown group /{name} (expected {', '.join(POINTS)})")
            step = f[name].attrs.get("step")
            if step is None or int(step) < 0:
                raise UserError(f"{path}: /{name} needs a step attribute >= 0")
            points[name] = (int(step), read_network(f[name], path))
    return points


def rewind_target(points: dict[str, tuple[int, Network]]) -> tuple[int, Network]:
    """The point a round rewinds to: the step-k weights when kept, else the initial ones."""
    return points.get("step") or points["init"]
