"""`sparana train`: build a network from a spec, train it with a checkpoint every epoch, test it, write a run folder.

The run folder is reserved once the spec and data have been checked, then holds checkpoint.h5
(weights, optimizer state, position, history) from the first epoch on. An interrupt finishes the
current step, checkpoints and leaves the folder incomplete; `--resume` continues it bitwise
exactly; a NaN or infinite loss stops training and keeps the last good checkpoint.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from sparana_cli.data import Dataset, load_dataset
from sparana_cli.engine.backend import Backend, resolve_backend
from sparana_cli.engine.metrics import evaluate_network
from sparana_cli.engine.network import Network
from sparana_cli.engine.optimizers import make_optimizer
from sparana_cli.engine.training import EpochProgress
from sparana_cli.errors import DiskFull, Interrupted, RunFailed, UserError
from sparana_cli.fitting import NotFinite, TrainingStopped, build_network, check_rewind_step, device_splits, fit
from sparana_cli.signals import deferred_signals, graceful_stop
from sparana_cli.spec import Spec
from sparana_cli.store import runs, runstate
from sparana_cli.store.checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint, save_checkpoint
from sparana_cli.store.rewind import write_rewind_point
from sparana_cli.ui import Console


def train(spec: Spec | None, *, root: Path, console: Console, resume: str | None = None, stop=None) -> dict:
    """Train the spec's model into a new run folder, or continue the unfinished run `resume`; return the summary.

    Everything is checked before a folder is reserved or touched. `stop` (default: the first
    SIGINT or SIGTERM) is polled after every step.
    """
    run = checkpoint = None
    if resume is not None:
        run, spec, checkpoint, done = _reopen(root, resume)
        if done:  # killed after it had written everything: only the rename was missing
            runs.finish_run(run)
            return _summary(run.path)
    try:
        backend = resolve_backend(spec.device)
        dataset = load_dataset(spec.data, spec.seed)
        if dataset.notice:
            console.warn(dataset.notice)
        net = build_network(spec, dataset, backend)
        check_rewind_step(spec, len(dataset.y_train))
        if checkpoint is not None:
            _check_fits(checkpoint, net, spec, dataset, run.tmp / CHECKPOINT_FILE)
            net = checkpoint.net.to(backend)
    except BaseException:
        if run is not None:
            run.release()
        raise
    with graceful_stop() as request:  # from before the folder exists: a signal is a request until training polls it
        return _train_into(run, root, spec, dataset, backend, net, checkpoint, console, stop=stop or request)


def _train_into(run: runs.PendingRun | None, root: Path, spec: Spec, dataset: Dataset, backend: Backend, net: Network,
                checkpoint: Checkpoint | None, console: Console, *, stop) -> dict:
    """Reserve a folder (run None) or continue `run`, train, finish; a second signal, wherever it lands, ends here."""
    fresh = run is None
    saved = [(checkpoint.progress.epoch, checkpoint.progress.step) if checkpoint else None]  # the newest checkpoint
    try:
        if fresh:
            with deferred_signals():  # a folder is reserved whole or not at all
                run = runs.reserve_run(root, spec.name, phase="train")
        console.say(f"training {'-'.join(map(str, net.sizes))} ({spec.model.output}/{spec.model.loss}) on "
                    f"{dataset.name} ({dataset.source}): {len(dataset.y_train)} train, {len(dataset.y_val)} validation, "
                    f"{len(dataset.y_test)} test images; {backend.describe()}")
        if checkpoint is not None:
            p = checkpoint.progress
            console.say(f"resuming {run.tmp} {runstate.position(p.epoch, p.step, spec.train.epochs)}")
        return _attempt(run, spec, dataset, backend, net, checkpoint, console, fresh=fresh, stop=stop, saved=saved)
    except KeyboardInterrupt:  # the second signal (signals.py raises one at most), wherever it landed
        if run is None:
            raise Interrupted("interrupted before training started; nothing was written") from None
        run.release()
        if not run.tmp.is_dir():
            raise Interrupted(f"the run had finished: {run.path} is complete", _summary(run.path)) from None
        if not (run.tmp / runs.SPEC_FILE).is_file():  # nothing to continue from
            shutil.rmtree(run.tmp, ignore_errors=True)
            raise Interrupted("interrupted before training started; no run folder was kept") from None
        message = "interrupted at once by a second signal; the last checkpoint is kept"
        runstate.write_status(run.tmp, runstate.INTERRUPTED, message=message)
        raise Interrupted(f"{message} in {run.tmp}; {_resume_hint(run)}",
                          _stopped_summary(run, runstate.INTERRUPTED, saved[0], spec)) from None


def _resume_hint(run: runs.PendingRun) -> str:
    return f"continue with: sparana train --resume {run.tmp}"


def _stopped_summary(run: runs.PendingRun, state: str, saved: tuple[int, int] | None, spec: Spec) -> dict:
    epoch, step = saved or (0, 0)
    return {"run": str(run.tmp), "state": state, "epoch": epoch, "step": step, "epochs": spec.train.epochs}


def _attempt(run: runs.PendingRun, spec: Spec, dataset: Dataset, backend: Backend, net: Network,
             checkpoint: Checkpoint | None, console: Console, *, fresh: bool, stop, saved: list) -> dict:
    """Train into run.tmp and finish it; a stop, a divergence or an error leaves it incomplete with its status said.

    `saved[0]` follows the newest checkpoint's (epoch, step).
    """
    epochs = spec.train.epochs

    def save(optimizer, progress, history, trainable):
        save_checkpoint(run.tmp, net, optimizer, progress, history, optimizer_name=spec.train.optimizer,
                        dataset_checksum=dataset.checksum, trainable=trainable)
        saved[0] = (progress.epoch, progress.step)  # progress itself moves on
        runstate.write_status(run.tmp, runstate.RUNNING, epoch=progress.epoch, step=progress.step)

    keep = spec.train.rewind_step

    def capture(t):  # the weights a lottery-ticket round rewinds to
        if t == keep:
            write_rewind_point(run.tmp, "step", t, net)

    try:
        if fresh:
            runs.write_spec(run.tmp, spec)
            if keep is not None:
                write_rewind_point(run.tmp, "init", 0, net)
        fields = runstate.start_fields("train")
        if not fresh:  # the run started when it was first reserved; this is a later session
            fields["resumed_at"] = fields.pop("started")
            runs.record_session(run)
        runstate.write_status(run.tmp, runstate.RUNNING, **fields, epochs=epochs, message="",
                              resumed=(runstate.read_status(run.tmp, strict=False) or {}).get("resumed", -1) + 1)
        splits = device_splits(dataset, backend)
        history = fit(net, spec, splits["train"], splits["val"], console, resume=checkpoint, on_epoch=save, stop=stop,
                      on_step=capture if keep else None, rewire=True)
        test = evaluate_network(net, *splits["test"], dataset.n_classes)
        for stale in (runs.MODEL_FILE, runs.METRICS_FILE):  # half-written by a run killed while finishing
            (run.tmp / stale).unlink(missing_ok=True)
        runs.save_model(run.tmp / runs.MODEL_FILE, net,
                        runs.run_attrs(spec, dataset, phase="train", parent=None, backend=backend))
        runs.write_metrics(
            run.tmp / runs.METRICS_FILE,
            {"train": history, "test": {"per_class_accuracy": test.per_class, "confusion": test.confusion}},
            {"train": {"test_accuracy": test.accuracy, "seconds": float(np.sum(history["seconds"])), "epochs": epochs},
             "test": {"accuracy": test.accuracy}},
        )
        runstate.write_status(run.tmp, runstate.COMPLETED, epoch=epochs, step=0)
        (run.tmp / CHECKPOINT_FILE).unlink(missing_ok=True)
        with deferred_signals():  # renamed whole: a signal during the rename is acted on after it
            runs.finish_run(run)
    except TrainingStopped as err:
        p = err.progress
        message = f"stopped {runstate.position(p.epoch, p.step, epochs)}; checkpoint saved in {run.tmp}"
        runstate.write_status(run.tmp, runstate.INTERRUPTED, message=message)
        raise Interrupted(f"{message}; {_resume_hint(run)}",
                          _stopped_summary(run, runstate.INTERRUPTED, saved[0], spec)) from None
    except NotFinite as err:
        where = runstate.position(*saved[0], epochs) if saved[0] else "none written yet"
        message = f"{err}; training stopped, last good checkpoint: {where}"
        runstate.write_status(run.tmp, runstate.FAILED, message=message)
        raise RunFailed(f"{message} (in {run.tmp}); lower train.lr or set train.clip",
                        _stopped_summary(run, runstate.FAILED, saved[0], spec)) from None
    except KeyboardInterrupt:
        raise  # handled by _train_into, also when it lands in one of these handlers
    except DiskFull as err:
        runstate.mark_failed(run.tmp, str(err))
        raise DiskFull(f"{err}; the run stays in {run.tmp}, marked failed: once there is space, {_resume_hint(run)}",
                       _stopped_summary(run, runstate.FAILED, saved[0], spec)) from None
    except BaseException as err:
        runstate.mark_failed(run.tmp, f"{type(err).__name__}: {err}")
        raise
    finally:
        run.release()
    return _summary(run.path, resumed=checkpoint.progress if checkpoint else None)


def _reopen(root: Path, resume: str):
    """The locked run, its spec, its checkpoint (None: start from scratch) and whether only the rename is left.

    Every file is checked before the folder is locked: a refusal leaves it exactly as it was.
    """
    tmp = runs.check_unfinished(root, resume)
    status = runstate.read_status(tmp)
    if status.get("phase") != "train":
        raise UserError(f"{tmp}: a {status.get('phase') or 'unknown'} run, not a training run; "
                        "only training runs can be resumed")
    spec = runs.load_run_spec(tmp)
    checkpoint = load_checkpoint(tmp)
    done = (checkpoint is None and status["state"] == runstate.COMPLETED
            and (tmp / runs.MODEL_FILE).is_file() and (tmp / runs.METRICS_FILE).is_file())
    if done:  # complete and readable, or a UserError: a damaged run is never renamed into a finished one
        runs.load_model(tmp)
        runs.read_metrics(tmp)
    return runs.reopen_run(root, resume), spec, checkpoint, done


def _check_fits(checkpoint: Checkpoint, net: Network, spec: Spec, dataset: Dataset, path: Path) -> None:
    """The checkpoint belongs to this spec and these data, or a UserError naming it."""
    saved = checkpoint.net
    if saved.sizes != net.sizes or saved.output != net.output or saved.dtype != net.dtype:
        raise UserError(f"{path}: a {'-'.join(map(str, saved.sizes))} {saved.output} {saved.dtype} network, but the run's "
                        f"spec and data make {'-'.join(map(str, net.sizes))} {net.output} {net.dtype}")
    if checkpoint.dataset_checksum != dataset.checksum:
        raise UserError(f"{path}: the {dataset.name} data ({dataset.source}) differ from the data this run started on; "
                        "a resumed run must see the same data")
    expected = make_optimizer([np.zeros(1, np.float32)], spec.train).state().keys()
    if checkpoint.optimizer != spec.train.optimizer or checkpoint.slots.keys() != expected:
        raise UserError(f"{path}: holds {checkpoint.optimizer} state ({', '.join(sorted(checkpoint.slots)) or 'none'}), "
                        f"but train.optimizer {spec.train.optimizer} needs ({', '.join(sorted(expected)) or 'none'})")
    if (checkpoint.trainable is None) != (spec.train.trainable.method == "all"):
        raise UserError(f"{path}: its train.trainable choice does not match the run's spec "
                        f"(train.trainable.method {spec.train.trainable.method})")
    if checkpoint.trainable is not None and [len(t) for t in checkpoint.trainable] != [
            int(len(s)) for s in checkpoint.slots.get(next(iter(checkpoint.slots), ""), checkpoint.trainable)]:
        raise UserError(f"{path}: its optimizer state does not match its trainable weights")
    p = checkpoint.progress
    if p.epoch > spec.train.epochs or (p.step and (p.epoch == spec.train.epochs
                                                  or p.step * spec.train.batch_size >= len(dataset.y_train))):
        raise UserError(f"{path}: position epoch {p.epoch}, step {p.step} lies outside the run "
                        f"({spec.train.epochs} epochs of {len(dataset.y_train)} images in batches of {spec.train.batch_size})")


def _summary(path: Path, resumed: EpochProgress | None = None) -> dict:
    """The summary of a finished training run, read back from its files."""
    arrays, attrs = runs.read_metrics(path)
    model = runs.read_model_attrs(path)
    history, totals = arrays["train"], attrs["train"]
    summary = {
        "run": str(path),
        "test_accuracy": totals["test_accuracy"],
        "val_accuracy": float(history["val_accuracy"][-1]),
        "train_loss": float(history["loss"][-1]),
        "seconds": totals["seconds"],
        "seconds_per_epoch": totals["seconds"] / totals["epochs"],
        "epochs": totals["epochs"],
        "dataset": model.get("dataset", ""),
        "dataset_source": model.get("dataset_source", ""),
        "device": model.get("device", ""),
        "per_class_accuracy": arrays["test"]["per_class_accuracy"].tolist(),
    }
    if resumed is not None:
        summary["resumed_at"] = {"epoch": resumed.epoch, "step": resumed.step}
    return summary
