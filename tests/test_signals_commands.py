"""SIGTERM during every long command, not only train: prune with steps, forget, attack and a sweep, each as its own
process, signalled at spread-out moments from start-up to exit. Every exit is 130 with one `interrupted` line
(or 0 when the signal came after the work was done), never a traceback, and the runs folder holds nothing
half-written: the parent unchanged, no new unfinished run folder left behind by prune, forget or attack."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.ui import Console
from tests.conftest import tiny_spec
from tests.test_signals import _wait_until_sigterm_is_caught

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 3
COMMANDS = {
    "prune with steps": lambda run, spec: ["prune", "--run", run, "--method", "maav", "--sparsity", "0.8", "--steps", "3",
                                           "--finetune-epochs", "1"],
    "forget": lambda run, spec: ["forget", "--run", run, "--class", "3"],
    "attack": lambda run, spec: ["attack", run, "--method", "pgd", "--eps", "0.05,0.1,0.2"],
    "sweep": lambda run, spec: ["sweep", spec, "seed=1..3", "train.epochs=2"],
}


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_during_a_long_command_ends_it_as_documented(tmp_path, idx_folder, command):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, train={"epochs": 2})))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(7)
    duration, codes = None, []
    for trial in range(TRIALS + 1):  # the first: unsignalled, to learn the command's length
        runs = tmp_path / f"runs-{trial}"
        parent = Path(train(spec_from_mapping(tiny_spec(idx_folder, train={"epochs": 2}), "s"), root=runs,
                            console=Console(json_mode=True))["run"])
        before, folders = _digest(parent), {p.name for p in runs.iterdir() if p.is_dir()}
        argv = [sys.executable, "-m", "sparana_cli", *map(str, COMMANDS[command](parent, spec)), "--runs-dir", str(runs)]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if duration is not None:
            _wait_until_sigterm_is_caught(proc)
            time.sleep((trial - 1 + rng.random()) / TRIALS * duration)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
        if duration is None:
            assert proc.returncode == 0, err
            duration = time.perf_counter() - start
            continue
        context = (command, trial, proc.returncode, err[-2000:])
        codes.append(proc.returncode)
        assert proc.returncode in (0, 130) and "Traceback" not in err, context
        lines = [line for line in err.splitlines() if line.startswith(("interrupted", "error"))]
        assert len(lines) == (proc.returncode == 130), context
        assert _digest(parent) == before, context  # a finished run is never changed
        new = [p for p in runs.iterdir() if p.is_dir() and p.name not in folders]
        assert not list(runs.rglob("*.part")), context
        if command != "sweep":  # prune, forget, attack: their child is complete or absent
            assert all(not p.name.endswith(".tmp") for p in new), (context, new)
        else:  # a sweep's runs: complete, or a resumable interrupted .tmp; never one left "running"
            for p in new:
                status = yaml.safe_load((p / "status.json").read_text())
                assert status["state"] in ("completed", "interrupted"), (context, p.name, status)
    assert 130 in codes, codes  # the first signal lands in the first third of the command: it stops it


def test_an_interrupt_while_a_run_folder_is_reserved_leaves_nothing(tmp_path, monkeypatch):
    """The window the prune trials above found: a signal while reserve_run writes status.json and provenance.json
    (which runs git) left a .tmp folder marked running, before the caller held it to clean up."""
    from sparana_cli.store import provenance, runs

    def interrupted(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(provenance, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.reserve_run(tmp_path, "tiny", phase="prune")
    assert list(tmp_path.iterdir()) == []
