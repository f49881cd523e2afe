"""`sparana evaluate`: test accuracy, per-class accuracy, confusion matrix and parameter counts of a run."""

from __future__ import annotations

from pathlib import Path

from sparana_cli import runs
from sparana_cli.data import load_dataset
from sparana_cli.engine.backend import resolve_backend
from sparana_cli.engine.metrics import evaluate_network, parameter_counts
from sparana_cli.engine.sparse import CSRNetwork
from sparana_cli.errors import UserError
from sparana_cli.profile import section
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


def evaluate(run_dir: Path, *, console: Console, device: str = "auto") -> dict:
    """Figures of the run's network on its dataset's test split."""
    spec, net, attrs, dataset, backend = load_run_with_data(run_dir, console, device)
    formats = runs.layer_formats(run_dir)
    csr_layers = [i for i, kind in enumerate(formats) if kind == "csr"]
    predictor = CSRNetwork(net, csr_layers) if csr_layers else net  # infer in the format the run stores
    test = evaluate_network(predictor, backend.asarray(dataset.x_test, net.dtype), backend.asarray(dataset.y_test),
                            dataset.n_classes)
    return {
        "run": str(run_dir),
        "phase": attrs.get("phase", ""),
        "parent": attrs.get("parent", ""),
        "formats": formats,
        "dataset": dataset.name,
        "test_samples": int(len(dataset.y_test)),
        **test.as_dict(),
        "parameters": parameter_counts(net),
    }
