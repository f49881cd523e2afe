"""Reading a run back: its records (read_run, used by every command that shows a run), and its network, spec and
the dataset it was trained on, checked to fit each other (load_run_with_data, used by every phase)."""

from __future__ import annotations

from pathlib import Path

from sparana_cli.data import load_dataset
from sparana_cli.engine.backend import resolve_backend
from sparana_cli.errors import UserError
from sparana_cli.profile import section
from sparana_cli.store import runs
from sparana_cli.store.record import RunRecord, read_run  # noqa: F401 (the one reader of a run's records)
from sparana_cli.ui import Console


def load_run_with_data(run_dir: Path, console: Console, device: str = "auto"):
    """A run's network and spec, with the dataset it was trained on, checked to fit each other."""
    with section("model load"):
        spec = runs.load_run_spec(run_dir)
        backend = resolve_backend(device)
        net, attrs = runs.load_model(run_dir, backend)
    dataset = load_dataset(spec.data, spec.seed)
    if dataset.notice:
        console.warn(dataset.notice)
    if net.sizes[0] != dataset.n_features or net.sizes[-1] != dataset.n_classes:
        raise UserError(f"{run_dir / runs.MODEL_FILE}: the network maps {net.sizes[0]} inputs to {net.sizes[-1]} "
                        f"outputs, but {dataset.name} has {dataset.n_features} features and {dataset.n_classes} classes")
    if attrs.get("dataset_checksum") not in (None, dataset.checksum):
        console.warn(f"warning: the {dataset.name} data read now ({dataset.source}) differs from the data "
                     f"{run_dir.name} was trained on; figures are not comparable")
    return spec, net, attrs, dataset, backend

