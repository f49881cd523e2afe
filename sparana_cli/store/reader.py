"""Reading a run back: its records (read_run, used by every command that shows a run), and its network, spec and
the dataset it was trained on, checked to fit each other (load_run_with_data, used by every phase)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sparana_cli.data import load_dataset
from sparana_cli.engine.backend import resolve_backend
from sparana_cli.errors import UserError
from sparana_cli.profile import section
from sparana_cli.store import provenance, runs, runstate
from sparana_cli.ui import Console
from sparana_cli.yamlfile import read_yaml


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


# -- the one reader of a run folder's records --------------------------------------------------------------


@dataclass
class RunRecord:
    """What a run folder says about itself, read and checked once: every command that shows a run reads this.

    A finished run's spec.yaml, model.h5 and metrics.h5 must be readable; when one is not, `state`
    is "damaged" and `message` names the file (read_run(strict=True) raises instead). Runs written
    before provenance.json existed have provenance None.
    """

    path: Path
    finished: bool
    state: str  # completed | running | interrupted | failed | killed | damaged
    status: dict  # status.json ({} when absent)
    message: str = ""
    spec: dict | None = None  # spec.yaml as a mapping
    phase: str = ""
    parent: str = ""  # the parent run folder, as recorded ("" for a training run)
    dataset: str = ""
    created: str = ""
    model: dict = field(default_factory=dict)  # model.h5's root attributes
    formats: list[str] = field(default_factory=list)  # per layer: dense | csr
    sparsity: float | None = None  # fraction of weights masked out, all layers
    arrays: dict = field(default_factory=dict)  # metrics.h5: arrays[group][name]
    attrs: dict = field(default_factory=dict)  # metrics.h5: attrs[group][name]
    provenance: dict | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sweep(self) -> str:
        """The sweep folder that started this run ("" when none did, or when it was made before sweeps said so)."""
        return str((self.provenance or {}).get("sweep") or "")


def is_run_folder(folder: Path) -> bool:
    """A run or sweep folder (finished or not): it has spec.yaml or status.json."""
    return folder.is_dir() and ((folder / runs.SPEC_FILE).is_file() or (folder / runstate.STATUS_FILE).is_file())


def _read_spec(path: Path):
    """spec.yaml as a mapping (yamlfile.read_yaml: libyaml when PyYAML has it, aliases and nesting bounded)."""
    return read_yaml(path)


def read_run(folder: Path, *, strict: bool = False) -> RunRecord:
    """Everything a run folder records but its weights; damage is a state (or, strict, a UserError naming the file)."""
    folder = Path(folder)
    finished = not folder.name.endswith(runs.TMP_SUFFIX)
    status = runstate.read_status(folder, strict=False) or {}
    record = RunRecord(folder, finished, runstate.effective_state(folder, status, finished=finished), status,
                       message=str(status.get("message", "")), phase=str(status.get("phase", "")),
                       created=str(status.get("started", "")), provenance=provenance.read(folder))
    if record.phase == "sweep":  # a sweep folder: sweep.yaml and CSVs, no spec or model (store/sweepfolder.py)
        return record
    try:
        spec = _read_spec(folder / runs.SPEC_FILE) if (finished or (folder / runs.SPEC_FILE).is_file()) else None
        record.spec = spec if isinstance(spec, dict) else None
        if finished and record.spec is None:
            raise UserError(f"{folder / runs.SPEC_FILE}: expected a mapping of keys")
    except UserError as err:
        if strict:
            raise
        record.state, record.message = "damaged", str(err)
        return record
    record.dataset = str(((record.spec or {}).get("data") or {}).get("name", "") or "")
    if not finished:
        return record
    try:
        record.model = runs.read_model_attrs(folder)
        record.formats, record.sparsity = runs.model_layout(folder)
        record.arrays, record.attrs = runs.read_metrics(folder)
    except UserError as err:
        if strict:
            raise
        record.state, record.message = "damaged", str(err)
        return record
    m = record.model
    record.phase = str(m.get("phase") or record.phase)
    record.parent = str(m.get("parent") or "")
    record.dataset = str(m.get("dataset") or record.dataset)
    record.created = str(m.get("created") or record.created)
    return record
