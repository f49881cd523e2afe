"""`sparana import`: a network trained elsewhere (safetensors, ONNX or NPZ) as a `train`-phase run.

The spec supplies the data and every setting later phases use (training settings for prune's
fine-tuning and forget's repair, prune and forget sections); the file supplies the weights, and
with them model.hidden and model.dtype. The output activation and loss come from the file when it
states them (Sparana's own export; an ONNX graph ending in Softmax) and from the spec otherwise.
Everything is read and checked before a run folder is reserved; provenance.json records the file
and its sha256.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from sparana_cli.data import load_dataset
from sparana_cli.engine.backend import resolve_backend
from sparana_cli.engine.metrics import evaluate_network
from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.fitting import device_splits
from sparana_cli.formats.files import SPARANA_FORMAT, read_model, sha256
from sparana_cli.formats.mlp import Mlp, check_fits
from sparana_cli.spec import Spec, SpecInvalid
from sparana_cli.store import provenance, runs
from sparana_cli.ui import Console


def import_model(file: Path, spec: Spec, *, root: Path, console: Console) -> dict:
    """Read `file`, check it against the spec's data, write a train-phase run holding it; return the summary."""
    start = time.perf_counter()
    file = Path(file)
    mlp, kind = read_model(file)
    masks = own_masks(mlp, file) if mlp.metadata.get("format") == SPARANA_FORMAT else None
    digest = sha256(file)
    spec, notes = imported_spec(spec, mlp, file)
    backend = resolve_backend(spec.device)
    dataset = load_dataset(spec.data, spec.seed)
    check_fits(mlp, dataset.n_features, dataset.n_classes, file, dataset.name)
    for note in ([dataset.notice] if dataset.notice else []) + notes:  # said once the file fits: a refusal is one line
        console.warn(note)
    net = Network(mlp.weights, mlp.biases, masks, output=spec.model.output).to(backend)
    test = evaluate_network(net, *device_splits(dataset, backend)["test"], dataset.n_classes)
    source = {"file": str(file.resolve()), "format": kind, "bytes": file.stat().st_size, "sha256": digest,
              "metadata": mlp.metadata}
    with runs.new_run(root, spec.name, phase="train") as run:
        runs.write_spec(run.tmp, spec)
        runs.save_model(run.tmp / runs.MODEL_FILE, net, runs.run_attrs(spec, dataset, phase="train", parent=None,
                                                                       backend=backend))
        runs.write_metrics(run.tmp / runs.METRICS_FILE,
                           {"test": {"per_class_accuracy": test.per_class, "confusion": test.confusion}},
                           {"test": {"accuracy": test.accuracy},
                            "import": {"file": source["file"], "format": kind, "sha256": digest,
                                       "seconds": time.perf_counter() - start}})
        provenance.note(run.tmp, imported=source)
    return {"run": str(run.path), "file": str(file), "format": kind, "sha256": digest, "layer_sizes": net.sizes,
            "output": spec.model.output, "loss": spec.model.loss, "dtype": spec.model.dtype, "dataset": dataset.name,
            "test_accuracy": test.accuracy, "per_class_accuracy": test.per_class.tolist(),
            "pruned_weights": int(sum(int(np.count_nonzero(~m)) for m in (masks or [])))}


def own_masks(mlp: Mlp, file: Path) -> list[np.ndarray]:
    """The masks of Sparana's own export: pruned weights are written as zeros, and the metadata's live_zero_weights
    lists (flat indices into each written (out, in) weight) the zeros that are not pruned."""
    masks = [w != 0 for w in mlp.weights]  # (in, out)
    try:
        live = json.loads(mlp.metadata.get("live_zero_weights", "[]"))
    except ValueError:
        live = None
    if not isinstance(live, list) or len(live) not in (0, len(masks)):
        raise UserError(f"{file}: metadata live_zero_weights must be a JSON list with one list per layer")
    for i, (mask, indices) in enumerate(zip(masks, live)):
        if not isinstance(indices, list) or not all(type(k) is int and 0 <= k < mask.size for k in indices):
            raise UserError(f"{file}: metadata live_zero_weights, layer {i}: not flat indices into its "
                            f"{mask.shape[1]}x{mask.shape[0]} (out, in) weight")
        outs, ins = np.unravel_index(np.asarray(indices, dtype=np.int64), mask.T.shape)
        mask[ins, outs] = True
    return masks


def imported_spec(spec: Spec, mlp: Mlp, file: Path) -> tuple[Spec, list[str]]:
    """The spec with the file's widths and dtype, and its output activation and loss where the file states them;
    and a note for each setting the file changed."""
    model = {"hidden": mlp.sizes[1:-1], "dtype": str(mlp.weights[0].dtype)}
    if mlp.output is not None:
        model["output"] = mlp.output
    loss = mlp.metadata.get("loss") if mlp.metadata.get("format") == SPARANA_FORMAT else None
    if loss is not None:
        if loss not in ("quadratic", "cross_entropy"):
            raise UserError(f"{file}: metadata loss must be quadratic or cross_entropy, found {loss!r:.40}")
        model["loss"] = loss
    elif mlp.output == "linear" and spec.model.loss == "cross_entropy":
        raise UserError(f"{file}: its graph ends without a Softmax, but the spec's model.loss is cross_entropy "
                        "(which needs a softmax output); set model.loss=quadratic or export the graph with its Softmax")
    notes = [f"note: model.{key}: {value} from {file.name} (the spec said {getattr(spec.model, key)})"
             for key, value in model.items() if getattr(spec.model, key) != value]
    try:
        return dataclasses.replace(spec, model=dataclasses.replace(spec.model, **model)), notes
    except SpecInvalid as err:
        raise UserError(f"{file}: model.{err.key}: {err.message}") from None
