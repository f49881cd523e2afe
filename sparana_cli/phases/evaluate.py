"""`sparana evaluate`: test accuracy, per-class accuracy, confusion matrix and parameter counts of a run."""

from __future__ import annotations

from pathlib import Path

from sparana_cli.engine.metrics import evaluate_network, parameter_counts
from sparana_cli.engine.sparse import CSRNetwork
from sparana_cli.errors import UserError
from sparana_cli.store import runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console


def evaluate(run_dir: Path, *, console: Console, device: str = "auto") -> dict:
    """Figures of the run's network on its dataset's test split."""
    spec, net, attrs, dataset, backend = load_run_with_data(run_dir, console, device)
    formats = runs.layer_formats(run_dir)
    csr_layers = [i for i, kind in enumerate(formats) if kind == "csr"]
    predictor = CSRNetwork(net, csr_layers) if csr_layers else net  # infer in the format the run stores
    test = evaluate_network(predictor, dataset.x_test.on(backend.asarray), backend.asarray(dataset.y_test),
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


def find_retrain(root: Path, parent: str, target: int) -> Path | None:
    """The newest retrain comparator run of `parent` for class `target` in root, if `sparana forget --compare` wrote one."""
    found = None
    for run in runs.finished_runs(root):
        try:
            if runs.read_model_attrs(run).get("parent") != parent:
                continue
            _, attrs = runs.read_metrics(run)
        except UserError:
            continue  # a damaged run is no reference; `sparana runs` reports it
        forget_attrs = attrs.get("forget", {})
        if forget_attrs.get("method") == "retrain" and forget_attrs.get("target_class") == target:
            found = run
    return found


def judge_forgetting(run_dir: Path, target: int, *, root: Path, retrain_run: Path | None, level: str, console: Console,
                     device: str = "auto", split: str = "test") -> dict:
    """Judge RUN as a forgetting of class `target` beside its parent and a retrained model (see analysis/judging.py),
    on the test split (to report) or the validation split (to choose settings)."""
    from sparana_cli.analysis.judging import JudgeSettings, judge_rows
    from sparana_cli.fitting import device_splits

    spec, net, attrs, dataset, backend = load_run_with_data(run_dir, console, device)
    if not 0 <= target < dataset.n_classes:
        raise UserError(f"--forget-class {target}: no such class; {dataset.name} has classes 0..{dataset.n_classes - 1}")
    held = {"test": dataset.y_test, "val": dataset.y_val}[split]
    if not (held == target).any():
        raise UserError(f"--split {split}: the {split} split holds no image of class {target} to judge on")
    parent_path = attrs.get("parent") or ""
    if not parent_path:
        raise UserError(f"{run_dir}: the run has no parent run to judge it against (it was trained, not derived)")
    parent_dir = Path(parent_path)
    if not (parent_dir / runs.MODEL_FILE).is_file():
        raise UserError(f"{parent_dir}: the parent run of {run_dir.name} is missing")
    parent, _ = runs.load_model(parent_dir, backend)
    models = [("parent", parent), (run_dir.name, net)]
    retrain_dir = retrain_run or find_retrain(root, parent_path, target)
    if retrain_dir is not None:
        retrained, _ = runs.load_model(retrain_dir, backend)
        models.append(("retrain", retrained))
    else:
        console.warn(f"note: no retrain comparator of class {target} found for {parent_dir.name} (give --retrain RUN, "
                     "or run 'sparana forget --compare retrain'); no Anamnesis index")
    settings = JudgeSettings.of(spec.forget, level)
    rows = judge_rows(models, splits=device_splits(dataset, backend), target=target,
                      n_classes=dataset.n_classes, train_cfg=spec.train, loss=spec.model.loss, seed=spec.seed,
                      settings=settings, split=split)
    return {"run": str(run_dir), "parent": parent_path, "retrain": str(retrain_dir) if retrain_dir else None,
            "class": target, "evaluate": level, "split": split,
            "judge": [{**r, "weights_changed": changed_weights(parent, m), "seconds": float("nan")}
                      for r, (_, m) in zip(rows, models)]}


def changed_weights(parent, net) -> int:
    """How many weights and biases of net differ from the parent's (all of them for a network of another shape)."""
    if net.sizes != parent.sizes:
        return int(sum(w.size + b.size for w, b in zip(net.weights, net.biases)))
    return int(sum(int((w != pw).sum()) + int((b != pb).sum())
                   for w, b, pw, pb in zip(net.weights, net.biases, parent.weights, parent.biases)))
