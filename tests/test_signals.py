"""Two SIGTERMs at random moments of `sparana train`: every trial ends as the README says, never with a traceback.

The command runs in this process (CliRunner), so 50 trials take seconds, not the minutes that 50
interpreters importing NumPy and Numba would; a timer thread sends the signals to the process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.signals import signals_received
from tests.conftest import tiny_spec

TRIALS = 50


def _outcome(runs: Path) -> str:
    """What the runs folder holds: "none", "complete" or "interrupted" (a resumable .tmp); anything else fails."""
    folders = [p for p in runs.iterdir() if p.is_dir()] if runs.is_dir() else []  # the runs index aside
    assert len(folders) <= 1, folders
    assert not list(runs.rglob("*.part")), "a half-written file was left"
    if not folders:
        return "none"
    folder = folders[0]
    state = json.loads((folder / "status.json").read_text())["state"]
    if folder.name.endswith(".tmp"):
        assert state == "interrupted", state  # never "running" (killed) nor "failed"
        assert (folder / "spec.yaml").is_file()
        return "interrupted"
    assert state == "completed" and (folder / "model.h5").is_file()
    return "complete"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # a KeyboardInterrupt in a finalizer
def test_two_sigterms_at_random_offsets_always_end_as_documented(tmp_path, idx_folder):
    """Two signals 1 ms to a run's length apart; the kernel may merge two that arrive before the first is taken,
    so the command's own count (signals_received) says whether it got one, not the number sent."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, train={"epochs": 6})))
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # one that lands outside the command
    rng, outcomes = random.Random(14), Counter()
    try:
        for warm in range(2):  # the second run's length, once Numba's kernels are compiled
            start = time.perf_counter()
            result = CliRunner().invoke(main, ["train", str(spec), "--runs-dir", str(tmp_path / "warm")])
            assert result.exit_code == 0, result.output
        duration = time.perf_counter() - start
        for trial in range(TRIALS):
            runs = tmp_path / f"runs-{trial}"
            first = rng.uniform(0, duration)
            second = first + rng.choice([rng.uniform(0.001, 0.005), rng.uniform(0.001, duration)])
            timers = [threading.Timer(t, os.kill, (os.getpid(), signal.SIGTERM)) for t in (first, second)]
            for timer in timers:
                timer.start()
            result = CliRunner().invoke(main, ["train", str(spec), "--runs-dir", str(runs)])
            received = signals_received()
            for timer in timers:
                timer.join()
            lines = [line for line in result.stderr.splitlines() if line.startswith(("interrupted", "error"))]
            context = (trial, first, second, received, result.exit_code, result.output)
            assert "Traceback" not in result.output, context
            assert result.exception is None or isinstance(result.exception, SystemExit), context
            if received:
                assert result.exit_code == 130, context
                assert len(lines) == 1 and lines[0].startswith("interrupted"), context
            else:
                assert result.exit_code == 0 and not lines, context
            outcome = _outcome(runs)
            if outcome == "interrupted":
                assert "continue with: sparana train --resume" in lines[0], context
            outcomes[f"{outcome}, {min(received, 2)} received"] += 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(dict(outcomes))
    assert sum(n for k, n in outcomes.items() if k.startswith("interrupted")) >= TRIALS // 4, outcomes
    assert sum(n for k, n in outcomes.items() if k.endswith("2 received")) >= TRIALS // 10, outcomes  # fewer on a busy machine


PROCESS_TRIALS = 8


def _wait_until_sigterm_is_caught(proc: subprocess.Popen) -> None:
    """Until the process has a SIGTERM handler (Linux: bit 15 of SigCgt in /proc/PID/status)."""
    status = Path(f"/proc/{proc.pid}/status")
    if not status.exists():
        pytest.skip("no /proc: cannot tell when the process starts handling signals")
    while proc.poll() is None:
        caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.002)


def test_a_whole_process_never_dies_of_a_late_signal(tmp_path, idx_folder):
    """As its own process (where Python's shutdown would restore the default handlers, under which a late SIGTERM
    kills it with status -15): two SIGTERMs from start-up to exit, 8 times; every exit is 130 or, when both came
    after the exit status was decided, 0, with no traceback."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, train={"epochs": 10})))
    command = [sys.executable, "-m", "sparana_cli", "train", str(spec)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    start = time.perf_counter()
    subprocess.run([*command, "--runs-dir", str(tmp_path / "warm")], env=env, check=True, capture_output=True)
    duration = time.perf_counter() - start
    rng = random.Random(41)
    for trial in range(PROCESS_TRIALS):
        runs = tmp_path / f"runs-{trial}"
        proc = subprocess.Popen([*command, "--runs-dir", str(runs)], env=env, stderr=subprocess.PIPE, text=True)
        _wait_until_sigterm_is_caught(proc)  # before that, the interpreter is still starting: not sparana's yet
        first = (trial + rng.random()) / PROCESS_TRIALS * duration  # spread from start-up to the end
        time.sleep(first)
        for gap in (0, rng.uniform(0.001, 0.2)):
            time.sleep(gap)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        context = (trial, first, proc.returncode, err[-2000:])
        assert proc.returncode in (0, 130) and "Traceback" not in err, context
        lines = [line for line in err.splitlines() if line.startswith(("interrupted", "error"))]
        assert len(lines) == (proc.returncode == 130), context
        _outcome(runs)
