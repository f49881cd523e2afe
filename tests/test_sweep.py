"""Sweeps: axes, the cartesian product, local worker processes, a Dask cluster on loopback, failures and interrupts."""

import csv
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparana_cli.errors import UserError
from sparana_cli.store import runs
from sparana_cli.sweeps import expand, parse_axes

ROOT = Path(__file__).resolve().parent.parent


def test_axes_lists_ranges_and_brackets():
    axes = parse_axes(["seed=1..3", "model.hidden=[8],[12, 8]", "train.lr=0.01,1e-3", "name='a,b',c"])
    assert [(a.key, a.values) for a in axes] == [
        ("seed", ("1", "2", "3")), ("model.hidden", ("[8]", "[12, 8]")), ("train.lr", ("0.01", "1e-3")),
        ("name", ("'a,b'", "c"))]
    points = expand(axes[:2])
    assert len(points) == 6 and points[0] == {"seed": "1", "model.hidden": "[8]"}
    assert points[-1] == {"seed": "3", "model.hidden": "[12, 8]"}
    assert [a.values for a in parse_axes(["seed=-1..1", "x=5"])] == [("-1", "0", "1"), ("5",)]


def test_absurd_products_are_refused():
    with pytest.raises(UserError, match="10000"):
        expand(parse_axes(["a=1..100", "b=1..101"]))


def sparana(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "sparana_cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_local_sweep_runs_the_product_and_writes_one_row_per_run(spec_file, runs_dir):
    done = sparana("sweep", spec_file, "seed=1,2", "model.hidden=[8],[12,8]", "train.epochs=2", "--workers", "2",
                   "--runs-dir", runs_dir, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    folder = Path(summary["run"])
    assert folder.parent == runs_dir and folder.name.startswith("tiny-sweep-") and not folder.name.endswith(".tmp")
    assert sorted(p.name for p in folder.iterdir()) == ["provenance.json", "status.json", "summary.csv", "summary.png",
                                                        "sweep.csv", "sweep.yaml"]
    rows = read_csv(folder / "sweep.csv")
    assert [(r["seed"], r["model.hidden"], r["train.epochs"]) for r in rows] == [
        ("1", "[8]", "2"), ("1", "[12,8]", "2"), ("2", "[8]", "2"), ("2", "[12,8]", "2")]
    assert {r["status"] for r in rows} == {"completed"} and len({r["run"] for r in rows}) == 4
    for row in rows:
        run = Path(row["run"])
        spec = yaml.safe_load((run / "spec.yaml").read_text())
        assert (spec["seed"], spec["model"]["hidden"]) == (int(row["seed"]), yaml.safe_load(row["model.hidden"]))
        assert float(row["test_accuracy"]) == runs.read_metrics(run)[1]["test"]["accuracy"]
    assert yaml.safe_load((folder / "sweep.yaml").read_text())["axes"]["seed"] == ["1", "2"]
    listing = json.loads(sparana("runs", "--runs-dir", runs_dir, "--json").stdout)
    assert sorted(r["run"] for r in listing["runs"]) == sorted(r["run"] for r in rows)  # the sweep folder is not a run
    assert {r["sweep"] for r in listing["runs"]} == {folder.name}  # each run names its sweep (provenance.json)
    (group,) = listing["sweeps"]
    assert group["name"] == folder.name and sorted(group["runs"]) == sorted(Path(r["run"]).name for r in rows)
    text = sparana("runs", "--runs-dir", runs_dir).stdout.splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith(folder.name))
    assert all(line.startswith("  tiny-") for line in text[start + 1:start + 5])  # its runs, indented under it

    # the summary: one point per hidden shape, mean and std of test accuracy over the two seeds
    points = {p["model.hidden"]: p for p in summary["points"]}
    assert summary["group_keys"] == ["model.hidden", "train.epochs"] and set(points) == {"[8]", "[12,8]"}
    for hidden, point in points.items():
        accs = [float(r["test_accuracy"]) for r in rows if r["model.hidden"] == hidden]
        assert point["n"] == 2 and point["test_accuracy_mean"] == pytest.approx(np.mean(accs))
        assert point["test_accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    table = read_csv(folder / "summary.csv")
    assert [r["model.hidden"] for r in table] == ["[8]", "[12,8]"] and table[0]["n"] == "2"
    human = sparana("sweep", spec_file, "seed=1,2", "train.epochs=1", "--runs-dir", runs_dir)
    assert human.returncode == 0 and "test_accuracy (mean ± std)" in human.stdout and "summary.csv" in human.stdout


def test_failed_points_are_rows_and_the_sweep_exits_3(spec_file, runs_dir):
    done = sparana("sweep", spec_file, "train.lr=0.01,1e30", "train.optimizer=sgd", "--workers", "2",
                   "--runs-dir", runs_dir)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: 1 of 2 runs did not complete")
    (folder,) = runs_dir.glob("tiny-sweep-*")
    good, bad = read_csv(folder / "sweep.csv")
    assert (good["status"], bad["status"], bad["exit_code"]) == ("completed", "failed", "3")
    assert bad["run"].endswith(".tmp") and "loss became" in bad["message"]
    assert json.loads((Path(bad["run"]) / "status.json").read_text())["state"] == "failed"


def test_sweep_on_a_dask_cluster(spec_file, runs_dir):
    """A real dask.distributed scheduler and worker on 127.0.0.1; the sweep is a separate process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        done = sparana("sweep", spec_file, "seed=1,2", "train.epochs=2", "--scheduler", address, "--runs-dir", runs_dir,
                       "--json")
        assert done.returncode == 0, done.stderr
        assert any(prefix.startswith("sparana-tiny-sweep") for prefix in cluster.scheduler.task_prefixes)
    rows = json.loads(done.stdout)["rows"]
    assert [(r["seed"], r["status"]) for r in rows] == [("1", "completed"), ("2", "completed")]
    assert all(Path(r["run"]).parent == runs_dir and float(r["test_accuracy"]) > 0 for r in rows)


def test_sweep_interrupt_checkpoints_every_running_run(tmp_path):
    from tests.conftest import tiny_spec, write_idx_folder

    data = write_idx_folder(tmp_path / "data", n_train=3000)
    spec = tmp_path / "slow.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(data, train={"batch_size": 4, "epochs": 40})))
    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "sparana_cli", "sweep", str(spec), "seed=1..3", "--workers", "2",
                             "--runs-dir", str(runs_dir)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while len(list(runs_dir.glob("tiny-2*.tmp/checkpoint.h5"))) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("interrupted: sweep stopped: 0 of 3 runs completed")
    (folder,) = runs_dir.glob("tiny-sweep-*.tmp")
    rows = read_csv(folder / "sweep.csv")
    assert [r["status"] for r in rows] == ["interrupted", "interrupted", "cancelled"]
    for row in rows[:2]:
        assert json.loads((Path(row["run"]) / "status.json").read_text())["state"] == "interrupted"
    assert json.loads((folder / "status.json").read_text())["state"] == "interrupted"


def test_shell_script_sweep_writes_a_csv(spec_file, runs_dir):
    env = {"SPARANA": f"{sys.executable} -m sparana_cli", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "sweep-seeds-hidden.sh"), str(spec_file), "1 2", "[8]",
                           "train.epochs=1", "--runs-dir", str(runs_dir)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert [(r["seed"], r["hidden"], r["status"]) for r in rows] == [("1", "[8]", "completed"), ("2", "[8]", "completed")]
    for row in rows:
        assert float(row["test_accuracy"]) == runs.read_metrics(row["run"])[1]["test"]["accuracy"]


def test_items_become_options_of_run_commands():
    from sparana_cli.cli.sweep_commands import option_args

    assert option_args("prune", ["method=maav", "sparsity=0.5", "layers=[0,1]", "shrink=true", "include_output=false",
                                 "finetune-epochs=1"]) == [
        "--method", "maav", "--sparsity", "0.5", "--layers", "0,1", "--shrink", "--no-include-output",
        "--finetune-epochs", "1"]
    assert option_args("forget", ["class=3", "compare=[retrain, ssd]", "step_fraction=1e-4"]) == [
        "--class", "3", "--compare", "retrain,ssd", "--step-fraction", "1e-4"]
    for bad, named in (("klass=3", "klass"), ("run=x", "run"), ("json=true", "json"), ("shrink=maybe", "shrink")):
        with pytest.raises(UserError, match=named):
            option_args("prune" if named == "shrink" else "forget", [bad])


@pytest.fixture
def trained(spec_file, runs_dir):
    done = sparana("train", spec_file, "--runs-dir", runs_dir, "--json")
    assert done.returncode == 0, done.stderr
    return Path(json.loads(done.stdout)["run"])


def test_forget_sweep_over_classes_of_a_run(trained, runs_dir):
    done = sparana("sweep", trained.name, "class=6,7", "step=4", "max_fraction=0.5", "evaluate=none",
                   "--command", "forget", "--runs-dir", runs_dir, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert Path(summary["run"]).name.startswith("tiny-forget-sweep-")
    rows = read_csv(summary["csv"])
    assert [(r["class"], r["status"]) for r in rows] == [("6", "completed"), ("7", "completed")]
    for row in rows:
        child = Path(row["run"])
        assert yaml.safe_load((child / "spec.yaml").read_text())["forget"]["target_class"] == int(row["class"])
        assert float(row["df_after"]) == runs.read_metrics(child)[1]["forget"]["df_accuracy"]
        assert runs.read_model_attrs(child)["parent"] == str(trained.resolve())


def test_run_sweeps_check_every_point_first(trained, runs_dir):
    before = sorted(p.name for p in runs_dir.iterdir())
    for command, axes, named in (("forget", ["class=1,12"], "--class 12"), ("prune", ["sparsity=0.5,1.5"], "--sparsity"),
                                 ("prune", ["method=maav,biggest", "sparsity=0.5"], "--method"),
                                 ("forget", ["class=1", "layers=[7]"], "--layers")):
        done = sparana("sweep", trained.name, *axes, "--command", command, "--runs-dir", runs_dir)
        assert done.returncode == 2 and named in done.stderr, done.stderr
    assert sorted(p.name for p in runs_dir.iterdir()) == before


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.sh")))
def test_every_batch_script_parses(script):
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / script)]).returncode == 0
