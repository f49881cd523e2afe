"""What a run folder says about itself (RunRecord, read_run), without NumPy or HDF5 until a finished run is read.

`sparana runs` answers from the runs index (runs_index.py) with only these; the modules that read
HDF5 (runs.py, reader.py) are loaded only when a folder has to be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sparana_cli.errors import UserError
from sparana_cli.store import runstate
from sparana_cli.store.names import SPEC_FILE, TMP_SUFFIX
from sparana_cli.store.runstate import STATUS_FILE


@dataclass
class RunRecord:
    """What a run folder says about itself, read and checked once: every command that shows a run reads this.

    A finished run's spec.yaml, model.h5 and metrics.h5 must be readable; when one is not, `state`
    is "damaged" and `message` names the file (read_run(strict=True) raises instead). Runs written
    before provenance.json existed have provenance None. A record from the runs index has no
    `arrays` and no `model` (reader.read_run reads them).
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
    return folder.is_dir() and ((folder / SPEC_FILE).is_file() or (folder / STATUS_FILE).is_file())


def read_run(folder: Path, *, strict: bool = False) -> RunRecord:
    """Everything a run folder records but its weights; damage is a state (or, strict, a UserError naming the file).

    An unfinished folder needs no HDF5: h5read.py (h5py, NumPy) is loaded only for a finished one.
    """
    from sparana_cli.store import provenance
    from sparana_cli.yamlfile import read_yaml

    folder = Path(folder)
    finished = not folder.name.endswith(TMP_SUFFIX)
    status = runstate.read_status(folder, strict=False) or {}
    record = RunRecord(folder, finished, runstate.effective_state(folder, status, finished=finished), status,
                       message=str(status.get("message", "")), phase=str(status.get("phase", "")),
                       created=str(status.get("started", "")), provenance=provenance.read(folder))
    if record.phase == "sweep":  # a sweep folder: sweep.yaml and CSVs, no spec or model (store/sweepfolder.py)
        return record
    try:
        spec = read_yaml(folder / SPEC_FILE) if (finished or (folder / SPEC_FILE).is_file()) else None
        record.spec = spec if isinstance(spec, dict) else None
        if finished and record.spec is None:
            raise UserError(f"{folder / SPEC_FILE}: expected a mapping of keys")
    except UserError as err:
        if strict:
            raise
        record.state, record.message = "damaged", str(err)
        return record
    record.dataset = str(((record.spec or {}).get("data") or {}).get("name", "") or "")
    if not finished:
        return record
    from sparana_cli.store import h5read

    try:
        record.model = h5read.read_model_attrs(folder)
        record.formats, record.sparsity = h5read.model_layout(folder)
        record.arrays, record.attrs = h5read.read_metrics(folder)
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
