"""Never lose work: checkpoints, --resume bitwise exact, SIGINT/SIGTERM/SIGKILL on real processes, NaN losses."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.errors import Interrupted, RunFailed
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import listing, runs, runs_index
from sparana_cli.store.checkpoint import load_checkpoint
from sparana_cli.ui import Console
from tests.conftest import tiny_spec, write_idx_folder

ROOT = Path(__file__).resolve().parent.parent


def weights(run_dir):
    net = runs.load_model(run_dir)[0]
    return [a.tobytes() for a in net.weights + net.biases + net.masks]


def stop_after(calls):
    """A stop() that says yes on its calls-th question (asked after each step but an epoch's last, and at each epoch end)."""
    count = [0]

    def stop():
        count[0] += 1
        return count[0] == calls

    return stop


def run_train(spec, root, **kwargs):
    return train(spec, root=root, console=Console(json_mode=True), **kwargs)


TRAIN_VARIANTS = {
    "adam": {},
    "dropout+penalties+clip": {"dropout": 0.3, "l1": 1e-4, "l2": 1e-3, "clip": 1.0},
    "sgd+momentum": {"optimizer": "sgd", "momentum": 0.9, "lr": 0.05},
    # the chosen weights must be the checkpoint's, not re-chosen from the half-trained network
    "trainable maav": {"trainable": {"method": "maav", "fraction": 0.3}, "lr": 0.05},
    "trainable random+dropout": {"trainable": {"method": "random", "fraction": 0.5}, "dropout": 0.2},
    # dynamic sparse training: the masks change every 3 steps (inside epochs, across the stops)
    "rigl": {"sparse": {"method": "rigl", "density": 0.3, "update_every": 3}},
    "set+sgd momentum": {"sparse": {"method": "set", "density": 0.2, "distribution": "uniform", "update_every": 2},
                         "optimizer": "sgd", "momentum": 0.9, "lr": 0.05},
}


@pytest.mark.parametrize("variant", TRAIN_VARIANTS)
def test_resume_mid_epoch_gives_bitwise_the_uninterrupted_weights(variant, idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder, train=TRAIN_VARIANTS[variant]), "s")
    reference = run_train(spec, tmp_path / "ref")
    root = tmp_path / "runs"
    # 240 train images in batches of 32: 8 steps an epoch, 8 stop() questions an epoch
    with pytest.raises(Interrupted) as info:
        run_train(spec, root, stop=stop_after(11))
    folder = Path(info.value.summary["run"])
    assert folder.name.endswith(".tmp") and folder.is_dir()
    checkpoint = load_checkpoint(folder)
    assert (checkpoint.progress.epoch, checkpoint.progress.step) == (1, 3)  # inside epoch 2
    assert json.loads((folder / "status.json").read_text())["state"] == "interrupted"
    with pytest.raises(Interrupted):  # a second interruption of the resumed run, in a later epoch
        run_train(None, root, resume=folder.name, stop=stop_after(5))
    assert load_checkpoint(folder).progress.epoch == 2
    summary = run_train(None, root, resume=str(folder))
    assert summary["resumed_at"] == {"epoch": 2, "step": 0}  # where the second interruption left it
    assert summary["run"] == str(folder.with_name(folder.name[:-4])) and not folder.exists()
    assert weights(summary["run"]) == weights(reference["run"])
    ref_history, history = runs.read_metrics(reference["run"])[0]["train"], runs.read_metrics(summary["run"])[0]["train"]
    for key in ("loss", "train_accuracy", "val_accuracy"):
        np.testing.assert_array_equal(history[key], ref_history[key])
    assert summary["test_accuracy"] == reference["test_accuracy"]
    finished = Path(summary["run"])
    assert sorted(p.name for p in finished.iterdir()) == ["metrics.h5", "model.h5", "provenance.json", "spec.yaml", "status.json"]
    status = json.loads((finished / "status.json").read_text())
    assert status["state"] == "completed" and status["resumed"] == 2
    assert status["started"] <= status["resumed_at"]  # when the run began, and when it was last resumed


def test_stop_at_an_epoch_end_resumes_at_the_next_epoch(idx_folder, tmp_path):
    spec = spec_from_mapping(tiny_spec(idx_folder), "s")
    with pytest.raises(Interrupted) as info:
        run_train(spec, tmp_path, stop=stop_after(8))  # the question asked at the end of epoch 1
    folder = Path(info.value.summary["run"])
    assert (load_checkpoint(folder).progress.epoch, load_checkpoint(folder).progress.step) == (1, 0)
    assert weights(run_train(None, tmp_path, resume=folder.name)["run"]) == weights(run_train(spec, tmp_path / "r")["run"])


def test_a_checkpoint_is_written_every_epoch(idx_folder, tmp_path, monkeypatch):
    import sparana_cli.phases.train as phase

    seen = []
    real = phase.save_checkpoint

    def spy(folder, net, opt, progress, history, **kw):
        seen.append((progress.epoch, progress.step, opt.t, len(history["loss"])))
        return real(folder, net, opt, progress, history, **kw)

    monkeypatch.setattr(phase, "save_checkpoint", spy)
    run_train(spec_from_mapping(tiny_spec(idx_folder), "s"), tmp_path)
    assert seen == [(1, 0, 8, 1), (2, 0, 16, 2), (3, 0, 24, 3)]


def test_nan_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(spec_file, tmp_path):
    runs_dir = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "sparana_cli", "train", str(spec_file), "train.optimizer=sgd",
                           "train.lr=3", "train.epochs=30", "--runs-dir", str(runs_dir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the training loss became"), done.stderr
    (folder,) = runs_dir.iterdir()
    status = json.loads((folder / "status.json").read_text())
    assert folder.name.endswith(".tmp") and status["state"] == "failed" and "last good checkpoint" in status["message"]
    checkpoint = load_checkpoint(folder)
    assert checkpoint.progress.step == 0 and f"after epoch {checkpoint.progress.epoch}/30" in lines[0]
    assert all(np.isfinite(w).all() for w in checkpoint.net.weights + checkpoint.net.biases)
    assert len(checkpoint.history["loss"]) == checkpoint.progress.epoch >= 1
    assert np.isfinite(checkpoint.history["loss"]).all()


def test_nan_loss_in_the_first_epoch_leaves_no_checkpoint(spec_file, tmp_path):
    with pytest.raises(RunFailed, match="none written yet"):
        run_train(spec_from_mapping(yaml.safe_load(spec_file.read_text()), "s", ["train.optimizer=sgd", "train.lr=1e30"]),
                  tmp_path)


def test_a_run_killed_after_writing_everything_is_only_renamed(spec_file, tmp_path):
    spec = spec_from_mapping(yaml.safe_load(spec_file.read_text()), "s")
    finished = Path(run_train(spec, tmp_path)["run"])
    tmp = finished.with_name(finished.name + ".tmp")
    finished.rename(tmp)  # as if killed between "completed" and the rename
    summary = run_train(None, tmp_path, resume=str(tmp))
    assert summary["run"] == str(finished) and finished.is_dir() and not tmp.exists()


# -- real processes, real signals ---------------------------------------------------------------

SLOW = {"batch_size": 4, "epochs": 8}  # 2,400 train images: 600 steps an epoch, about 0.1 s


@pytest.fixture(scope="module")
def slow_setup(tmp_path_factory):
    """A spec that trains for about a second, and the weights of its uninterrupted run."""
    base = tmp_path_factory.mktemp("slow")
    data = write_idx_folder(base / "data", n_train=3000, n_test=100)
    spec_path = base / "slow.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec(data, train=SLOW)))
    reference = run_train(spec_from_mapping(yaml.safe_load(spec_path.read_text()), "s"), base / "ref")
    return spec_path, weights(reference["run"])


def _start(spec_path, runs_dir):
    return subprocess.Popen([sys.executable, "-m", "sparana_cli", "train", str(spec_path), "--runs-dir", str(runs_dir)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(runs_dir, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(runs_dir.glob("*.tmp/checkpoint.h5"))
        if found:
            return found[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_signal_leaves_a_resumable_run_and_never_touches_finished_ones(signum, slow_setup, spec_file, tmp_path):
    spec_path, reference = slow_setup
    runs_dir = tmp_path / "runs"
    done = CliRunner().invoke(main, ["train", str(spec_file), "train.epochs=1", "--runs-dir", str(runs_dir), "--json"])
    finished = Path(json.loads(done.stdout)["run"])
    before = _snapshot(finished)

    proc = _start(spec_path, runs_dir)
    folder = _wait_for_checkpoint(runs_dir, proc)
    time.sleep(0.03)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    status = json.loads((folder / "status.json").read_text())
    listing = json.loads(CliRunner().invoke(main, ["runs", "--runs-dir", str(runs_dir), "--json"]).stdout)
    row = next(r for r in listing["runs"] if r["run"] == str(folder))
    assert row["status"] == "incomplete"
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert status["state"] == "running" and row["state"] == "killed"
    else:
        assert proc.returncode == 130, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("interrupted: stopped "), err
        assert "--resume" in lines[0] and "Traceback" not in err
        assert status["state"] == "interrupted" and row["state"] == "interrupted"
    assert load_checkpoint(folder) is not None
    assert _snapshot(finished) == before

    resumed = CliRunner().invoke(main, ["train", "--resume", folder.name, "--runs-dir", str(runs_dir), "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert weights(json.loads(resumed.stdout)["run"]) == reference
    assert _snapshot(finished) == before
    assert not list(runs_dir.glob("*.tmp"))


def test_resume_refuses_a_run_that_is_still_running(slow_setup, tmp_path):
    spec_path, _ = slow_setup
    runs_dir = tmp_path / "runs"
    proc = _start(spec_path, runs_dir)
    try:
        folder = _wait_for_checkpoint(runs_dir, proc)
        result = CliRunner().invoke(main, ["train", "--resume", str(folder), "--runs-dir", str(runs_dir)])
        assert result.exit_code == 2 and "still running" in result.stderr
        listing = json.loads(CliRunner().invoke(main, ["runs", "--runs-dir", str(runs_dir), "--json"]).stdout)
        assert [r["state"] for r in listing["runs"]] == ["running"]
    finally:
        proc.kill()
        proc.communicate()


def test_concurrent_trainings_never_share_a_folder(spec_file, tmp_path):
    """Four `sparana train` processes released at the same instant into one runs folder."""
    runs_dir = tmp_path / "runs"
    start = time.time() + 2.0
    script = ("import sys, time\nfrom sparana_cli.cli import main\n"
              "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\nmain(sys.argv[2:], prog_name='sparana')\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(start), "train", str(spec_file), "train.epochs=1",
                               f"seed={i}", "--runs-dir", str(runs_dir), "--json"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0] * 4, results
    folders = [Path(json.loads(out)["run"]) for out, _, _ in results]
    assert len(set(folders)) == 4 and sorted(folders) == sorted(p for p in runs_dir.iterdir() if p.is_dir())
    assert len(listing.records(runs_dir)) == 4 and set(runs_index.scan(runs_dir)) == {f.name for f in folders}
    with sqlite3.connect(runs_dir / runs_index.INDEX_FILE) as db:  # the four finishing runs wrote the index at once
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {name for (name,) in db.execute("SELECT name FROM runs")} <= {f.name for f in folders}
    for i, folder in enumerate(folders):  # each folder holds the run that claims it
        assert yaml.safe_load((folder / "spec.yaml").read_text())["seed"] == i
        with h5py.File(folder / "model.h5") as f:
            assert f.attrs["seed"] == i


def test_reservations_at_the_same_instant_never_collide(tmp_path):
    """Six processes reserving 25 folders each, all with the same name and timestamp."""
    start = time.time() + 1.0
    script = ("import sys, time\nfrom datetime import datetime\nfrom pathlib import Path\nfrom sparana_cli.store import runs\n"
              "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
              "for _ in range(25):\n    print(runs.reserve_run(Path(sys.argv[2]), 'x', datetime(2026, 1, 2, 3, 4, 5)).tmp)\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(start), str(tmp_path)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    names = [line for p in procs for line in p.communicate(timeout=60)[0].split()]
    assert len(names) == 150 and len(set(names)) == 150
    assert len(list(tmp_path.iterdir())) == 150
