"""`sparana evaluate`: test accuracy, per-class accuracy, confusion matrix and parameter counts of a run."""

from __future__ import annotations

from pathlib import Path

from sparana_cli.engine.metrics import evaluate_network, parameter_counts
from sparana_cli.engine.sparse import CSRNetwork
from sparana_cli.store import runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console


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
