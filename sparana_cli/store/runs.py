"""Run folders: reserved atomically, written as <name>.tmp/ and renamed when complete; HDF5 model and metrics.

A finished run folder's results are never modified. Layout (see README "Run folders"):
  spec.yaml    the resolved spec
  status.json  state (running -> completed / failed / interrupted), who wrote it and when
  provenance.json  how it was made: argv, versions, git commit, host, device, start and end (see provenance.py)
  model.h5     /layers/<i>/{weights, bias, mask} or /layers/<i>/{csr/{data, indices, indptr}, bias}, attrs;
               root attrs: version, seed, phase, parent, dataset
  metrics.h5   /<phase>/<name> arrays, summary numbers as group attributes
An unfinished <name>.tmp/ folder also holds `lock` (held by its writer) and, while training,
checkpoint.h5.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Iterator

import h5py
import numpy as np

from sparana_cli import __version__
from sparana_cli.data.claims import read_dataset
from sparana_cli.engine.backend import CPU, Backend, host_free_memory, to_host
from sparana_cli.engine.footprint import refuse_if_too_big
from sparana_cli.engine.network import Network
from sparana_cli.engine.sparse import csr_parts, dense_from_csr
from sparana_cli.errors import RunFailed, UserError
from sparana_cli.files import PART_SUFFIX, atomic_path, require_space, write_text_atomic
from sparana_cli.spec import Spec, read_yaml, spec_from_mapping, spec_to_yaml
from sparana_cli.store import layout, provenance, runs_index, runstate
from sparana_cli.store.h5read import _model_attrs, model_layout, open_h5, read_metrics, read_model_attrs  # noqa: F401 (runs.X for callers)
from sparana_cli.store.names import METRICS_FILE, MODEL_FILE, RUNS_ENV, SPEC_FILE, TMP_SUFFIX, runs_root  # noqa: F401 (runs.X for callers)

NAME_CHARS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # the spec's `name` characters: no separators, no leading dot
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,149}")  # a spec name (at most 100) and a suffix such as -forget-ssd
RUN_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*-\d{8}-\d{6}(?:-\d+)?")  # <name>-<YYYYmmdd-HHMMSS>[-k]


# -- creating ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingRun:
    """A reserved run: files go into `tmp`; it becomes `path` when the run finishes.

    `lock` is this process's hold on the folder (see runstate); `release()` lets it go.
    """

    tmp: Path
    path: Path
    lock: IO | None = field(default=None, compare=False, repr=False)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.close()


def reserve_run(root: Path, name: str, now: datetime | None = None, *, phase: str = "") -> PendingRun:
    """Reserve <root>/<name>-<YYYYmmdd-HHMMSS>[-k] by creating its .tmp folder with os.mkdir (atomic).

    A name that is taken, finished or in progress, gets the next free suffix, never an overwrite.
    The folder starts with status.json (running) and this process's lock.
    """
    if not RUN_NAME.fullmatch(name):
        raise UserError(f"run name {name[:40]!r}{'...' if len(name) > 40 else ''} is not allowed: use at most 150 "
                        "letters, digits, '.', '_' and '-', starting with a letter or digit")
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{root}: cannot create the runs folder ({err.strerror or err})") from None
    for k in range(1, 10_000):
        final = root / (f"{name}-{stamp}" if k == 1 else f"{name}-{stamp}-{k}")
        tmp = final.with_name(final.name + TMP_SUFFIX)
        if final.exists():
            continue
        try:
            os.mkdir(tmp)
        except FileExistsError:
            continue
        except OSError as err:
            raise UserError(f"{root}: cannot create a run folder there ({err.strerror or err})") from None
        if final.exists():  # finished by someone else between our two checks
            os.rmdir(tmp)
            continue
        run = PendingRun(tmp, final, runstate.take_lock(tmp))
        try:
            runstate.write_status(tmp, runstate.RUNNING, **runstate.start_fields(phase))
            provenance.start(tmp)  # runs git: long enough for a signal to land in it
        except BaseException as err:  # before the caller holds the folder, nothing else would remove it
            shutil.rmtree(tmp, ignore_errors=True)
            run.release()
            if isinstance(err, (OSError, RunFailed)):  # a full disk before anything of the run is written: exit 2
                raise UserError(f"{root}: cannot write a run folder there ({err})") from None
            raise
        return run
    raise UserError(f"{root}: no free run name for {name}-{stamp}")


@contextlib.contextmanager
def new_run(root: Path, name: str, *, phase: str = "") -> Iterator[PendingRun]:
    """Reserve a run folder, let the caller fill run.tmp, then finish it (status completed, renamed to run.path).

    Any exception, an interrupt included, removes the unfinished folder and propagates.
    """
    run = reserve_run(root, name, phase=phase)
    try:
        yield run
    except BaseException:
        shutil.rmtree(run.tmp, ignore_errors=True)
        run.release()
        raise
    finish_run(run)


def finish_run(run: PendingRun, **status) -> None:
    """Mark the run completed and rename <name>.tmp to <name>: from then on its results never change."""
    try:
        runstate.write_status(run.tmp, runstate.COMPLETED, **{"ended": runstate.now(), **status})
        provenance.finish(run.tmp, **_made_from(run.tmp))
        (run.tmp / runstate.LOCK_FILE).unlink(missing_ok=True)
        if run.path.exists():
            raise UserError(f"{run.path}: already exists; the finished run stays in {run.tmp}")
        os.rename(run.tmp, run.path)
        runs_index.add(run.path)
    finally:
        run.release()


def record_session(run: PendingRun) -> None:
    """A reopened run starts another session (after every check passed): add it to provenance.json."""
    provenance.resumed(run.tmp)


def _made_from(folder: Path) -> dict:
    """The device model.h5 says its weights were computed on and the data they were computed from ({} without model.h5)."""
    if not (folder / MODEL_FILE).is_file():
        return {}
    try:
        attrs = read_model_attrs(folder)
    except UserError:
        return {}
    data = {key: str(attrs[f"dataset{suffix}"]) for key, suffix in (("name", ""), ("source", "_source"),
                                                                      ("checksum", "_checksum")) if f"dataset{suffix}" in attrs}
    return {"device": str(attrs.get("device_name") or attrs.get("device") or "") or None, "data": data or None}


def reopen_run(root: Path, run: str) -> PendingRun:
    """Take over an unfinished run folder to continue it: checked, and locked so no other process can.

    RUN is a path to a <name>-<time>.tmp folder or its name in root (with or without .tmp).
    """
    tmp = check_unfinished(root, run)
    lock = runstate.take_lock(tmp)
    if lock is None:
        raise _still_running(tmp)
    for stale in tmp.glob("*" + PART_SUFFIX):  # left by a process that died mid-write (h5py on a full disk, kill -9)
        stale.unlink(missing_ok=True)  # a link was refused above: only the folder's own files are removed
    return PendingRun(tmp, tmp.with_name(tmp.name[: -len(TMP_SUFFIX)]), lock)


def check_unfinished(root: Path, run: str) -> Path:
    """The unfinished run folder RUN names, checked without writing anything: not running, with a readable status."""
    tmp = _locate_unfinished(root, run)
    for required in (SPEC_FILE, runstate.STATUS_FILE):
        if not (tmp / required).is_file():
            raise UserError(f"{tmp}: not an unfinished run folder (no {required})")
    runstate.read_status(tmp)  # a damaged status.json is refused before anything changes
    if runstate.is_locked(tmp):
        raise _still_running(tmp)
    return tmp


def _still_running(tmp: Path) -> UserError:
    status = runstate.read_status(tmp, strict=False) or {}
    return UserError(f"{tmp}: still running (pid {status.get('pid', '?')} on {status.get('host', '?')}); "
                     "stop it first (Ctrl-C or kill -TERM)")


def _locate_unfinished(root: Path, run: str) -> Path:
    if _is_path(run):
        path = Path(run)
        if not path.is_dir():
            raise UserError(f"{run}: no such run folder")
        candidates = [path]
    else:
        bare = run.removesuffix(TMP_SUFFIX)
        if not RUN_FOLDER.fullmatch(bare):
            raise UserError(f"{run}: not a run folder name (expected <name>-<YYYYmmdd-HHMMSS>[-k][.tmp])")
        candidates = [p for p in (root / (bare + TMP_SUFFIX), root / bare) if p.is_dir()]
        if not candidates:
            raise UserError(f"{run}: no such run folder in {root}")
    path = candidates[0]
    if path.is_symlink():
        raise UserError(f"{path}: a symbolic link; give the run folder itself")
    if not RUN_FOLDER.fullmatch(path.name.removesuffix(TMP_SUFFIX)):
        raise UserError(f"{path}: not a run folder (expected a name <name>-<YYYYmmdd-HHMMSS>[-k].tmp)")
    if not path.name.endswith(TMP_SUFFIX):
        raise UserError(f"{path}: a finished run; a finished run is never changed (train a new one)")
    links = sorted(p.name for p in path.iterdir() if p.is_symlink())
    if links:  # planted: writing the run would write through it, outside the runs folder
        raise UserError(f"{path / links[0]}: a symbolic link inside the run folder; a run's files are never written "
                        "through a link (remove it)")
    return path


def _is_path(run: str) -> bool:
    return os.sep in run or (os.altsep or os.sep) in run or run in (".", "..")


def write_spec(folder: Path, spec: Spec) -> None:
    write_text_atomic(folder / SPEC_FILE, spec_to_yaml(spec))


def run_attrs(spec: Spec, dataset, *, phase: str, parent: Path | str | None, backend: Backend) -> dict:
    """Root attributes of model.h5: provenance of the weights."""
    return {
        "sparana_version": __version__,
        "seed": spec.seed,
        "phase": phase,
        "parent": str(parent or ""),
        "dataset": dataset.name,
        "dataset_checksum": dataset.checksum,
        "dataset_source": dataset.source,
        "device": backend.name,
        "device_name": backend.describe(),
        "created": datetime.now().isoformat(timespec="microseconds"),
    }


def save_model(path: Path, net: Network, attrs: dict, *, csr_layers=()) -> None:
    """Write weights, biases and masks of every layer, with provenance attributes, to model.h5 (atomically).

    Layers in csr_layers are stored as /layers/<i>/csr/{data, indices, indptr} (the mask's True
    entries, row by row) instead of dense weights and mask.
    """
    with atomic_path(path, needs=network_bytes(net)) as part, h5py.File(part, "w") as f:
        write_network(f, net, attrs, csr_layers=csr_layers)


def network_bytes(net: Network) -> int:
    """The bytes of a network's weights, biases and masks: at most what write_network stores."""
    return sum(int(a.nbytes) for arrays in (net.weights, net.biases, net.masks) for a in arrays)


def write_network(f: h5py.File, net: Network, attrs: dict, *, compress_masks: bool = True, csr_layers=()) -> None:
    """/layers/<i>/{weights, bias, mask} (or csr/...) and root attributes into an open HDF5 file."""
    f.attrs.update(attrs)
    f.attrs["n_layers"] = net.n_layers
    f.attrs["output"] = net.output
    layers = f.create_group("layers")
    for i, (w, b, m) in enumerate(zip(net.weights, net.biases, net.masks)):
        g = layers.create_group(str(i))
        if i in csr_layers:
            csr = g.create_group("csr")
            for name, array in zip(("data", "indices", "indptr"), csr_parts(to_host(w), to_host(m))):
                csr.create_dataset(name, data=array)
            csr.attrs["shape"] = np.asarray(w.shape, dtype=np.int64)
        else:
            g.create_dataset("weights", data=to_host(w))
            g.create_dataset("mask", data=to_host(m), compression="gzip" if compress_masks else None)
            g.attrs["live"] = int(np.count_nonzero(to_host(m)))  # the mask's count: listing runs reads no masks
        g.create_dataset("bias", data=to_host(b))
        g.attrs["activation"] = net.activation(i)
        g.attrs["format"] = "csr" if i in csr_layers else "dense"
        g.attrs["shape"] = np.asarray(w.shape, dtype=np.int64)


def write_metrics(path: Path, arrays: dict[str, dict], attrs: dict[str, dict] | None = None) -> None:
    """metrics.h5: arrays[group][name] -> /group/name; attrs[group] -> that group's attributes."""
    if Path(path).is_symlink():
        raise UserError(f"{path}: a symbolic link; a run's files are never written through a link")
    require_space(Path(path).parent, sum(np.asarray(v).nbytes for items in arrays.values() for v in items.values()),
                  str(path))
    with h5py.File(path, "a") as f:
        for group, items in arrays.items():
            g = f.require_group(group)
            for name, value in items.items():
                if name in g:
                    del g[name]
                g.create_dataset(name, data=np.asarray(value))
        for group, items in (attrs or {}).items():
            f.require_group(group).attrs.update({k: v for k, v in items.items()})


# -- reading ----------------------------------------------------------------------------------


def load_model(run_dir: Path, backend: Backend = CPU) -> tuple[Network, dict]:
    """The network stored in a run folder, on `backend`, and model.h5's root attributes."""
    path = Path(run_dir) / MODEL_FILE
    with open_h5(path) as f:
        attrs = _model_attrs(f, path)
        net = read_network(f, path)
    return (net.to(backend) if backend is not CPU else net), attrs


def read_network(f: h5py.File, path: Path) -> Network:
    """The host network in an open model.h5-layout file (dense or CSR layers), every shape checked; errors name `path`."""
    if "layers" not in f or not len(f["layers"]):
        raise UserError(f"{path}: no /layers group")
    n = len(f["layers"])
    layout.check_layer_count(f, path)
    weights, biases, masks = [], [], []
    for i in range(n):
        if str(i) not in f["layers"]:
            raise UserError(f"{path}: missing /layers/{i}")
        g = f["layers"][str(i)]
        for key in ("bias",) if "csr" in g else ("weights", "bias", "mask"):
            if key not in g:
                raise UserError(f"{path}: missing /layers/{i}/{key}")
        where = f"{path}: /layers/{i}"
        w, m = _read_csr(g["csr"], f"{where}/csr") if "csr" in g else (read_dataset(g["weights"], f"{where}/weights"),
                                                                       read_dataset(g["mask"], f"{where}/mask"))
        b = read_dataset(g["bias"], f"{where}/bias")
        if w.ndim != 2 or b.shape != (w.shape[1],) or m.shape != w.shape:
            raise UserError(f"{path}: /layers/{i} has inconsistent shapes "
                            f"(weights {w.shape}, bias {b.shape}, mask {m.shape})")
        if i and w.shape[0] != weights[-1].shape[1]:
            raise UserError(f"{path}: /layers/{i} takes {w.shape[0]} inputs but layer {i - 1} gives {weights[-1].shape[1]}")
        layout.check_layer(w, b, m, f"{path}: /layers/{i}")
        weights.append(w)
        biases.append(b)
        masks.append(m)
    output = layout.plain(f.attrs.get("output", "linear"))
    if output not in ("linear", "softmax"):
        raise UserError(f"{path}: unknown output activation {output!r:.40}")
    return Network(weights, biases, masks, output=output)


def _read_csr(g: h5py.Group, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense weights and mask of a stored CSR layer."""
    for key in ("data", "indices", "indptr"):
        if key not in g:
            raise UserError(f"{where}: missing {key}")
    shape = np.asarray(g.attrs.get("shape", ()))
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape < 1).any():
        raise UserError(f"{where}: needs a shape attribute of two positive integers (rows, columns)")
    rows, columns = int(shape[0]), int(shape[1])
    refuse_if_too_big(rows * columns * (g["data"].dtype.itemsize + 1), host_free_memory(),
                      f"the {rows} x {columns} layer its shape attribute claims", where)
    try:
        return dense_from_csr(*(read_dataset(g[key], f"{where}/{key}") for key in ("data", "indices", "indptr")), shape)
    except ValueError as err:
        raise UserError(f"{where}: {err}") from None


def layer_formats(run_dir: Path) -> list[str]:
    """How model.h5 stores each layer: "dense" or "csr"."""
    return model_layout(run_dir)[0]


def read_spec_text(run_dir: Path) -> str:
    """spec.yaml as written (for showing it)."""
    path = Path(run_dir) / SPEC_FILE
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None


def load_run_spec(run_dir: Path) -> Spec:
    path = Path(run_dir) / SPEC_FILE
    return spec_from_mapping(read_yaml(path), str(path))


# -- finding ----------------------------------------------------------------------------------


DEFAULT_PHASE = "train"  # a command given no RUN takes the newest finished run of this phase


def finished_runs(root: Path, phase: str | None = None) -> list[Path]:
    """Finished run folders in root (those with a model.h5 and no .tmp suffix), oldest first; only `phase`'s if given."""
    return [r.path for r in _finished_records(root) if phase is None or r.phase == phase]


def _finished_records(root: Path) -> list:
    """The records of root's finished run folders (with a model.h5), oldest first, from the runs index where it matches.

    Nothing is written: a folder the index lacks or that changed is read (`sparana runs` and every finishing
    command keep the index current)."""
    if not root.is_dir():
        return []
    found = [r for r in runs_index.records(root, specs=False, write=False)
             if r.finished and (r.path / MODEL_FILE).is_file()]
    for r in found:
        if r.state == "damaged":  # what model.h5 says, as before the index: the command then names what is damaged
            r.created, r.phase = _made(r.path)
    return sorted(found, key=lambda r: (r.created, r.name))


def _made(run: Path) -> tuple[str, str]:
    """(created, phase) from model.h5's attributes."""
    try:
        with h5py.File(run / MODEL_FILE, "r") as f:
            return str(layout.plain(f.attrs.get("created", ""))), str(layout.plain(f.attrs.get("phase", "")))
    except OSError:
        return "", ""


def resolve_run(root: Path, run: str | None) -> Path:
    """A finished run folder from a path or a name in root; None means the newest finished `train` run in root that
    no sweep made (a sweep's runs are points of a study, often short: named, not taken by default), else the newest."""
    if run is None:
        found = _finished_records(root)
        trained = [r for r in found if r.phase == DEFAULT_PHASE]
        if not trained:
            others = " (only runs of other phases: name one)" if found else ""
            raise UserError(f"{root}: no finished {DEFAULT_PHASE} run{others}; train one first, "
                            "e.g. 'sparana train configs/mnist.yaml'")
        return next((r.path for r in reversed(trained) if not (r.provenance or {}).get("sweep")), trained[-1].path)
    if not _is_path(run) and not NAME_CHARS.fullmatch(run):
        raise UserError(f"run {run}: not a run folder name")
    for candidate in (Path(run), root / run):
        if candidate.is_dir():
            if candidate.name.endswith(TMP_SUFFIX):
                raise UserError(f"{candidate}: an unfinished run folder (continue it with 'sparana train --resume')")
            if not (candidate / SPEC_FILE).is_file():
                raise UserError(f"{candidate}: not a run folder (no {SPEC_FILE})")
            return candidate
    raise UserError(f"run {run}: no such folder (looked in . and {root})")
