"""Every kind of run, written by its command, read back through every command that reads runs.

One runs folder holds a training run, prune children (dense in two steps, CSR, shrunk), a forget
child with all comparators, an attack child, a sweep with its two runs, and a run as sparana wrote
them before provenance.json. Each is listed by `runs`, shown by `runs show`, compared, evaluated and
plotted; nothing reading a run changes its results.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest
import yaml

from tests.conftest import tiny_spec, write_idx_folder
from tests.test_cli import invoke
from tests.test_prune_cli import digest
from tests.test_sweep import sparana

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_json(*args) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, (args, result.stderr)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("roundtrip")
    spec = base / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(write_idx_folder(base / "data"))))
    root = base / "runs"
    r = ("--runs-dir", root)
    train = Path(run_json("train", spec, *r)["run"])
    kinds = {"train": train}
    kinds["prune dense"] = Path(run_json("prune", "--sparsity", "0.5", "--steps", "2", *r)["run"])
    kinds["prune csr"] = Path(run_json("prune", "--run", train.name, "--sparsity", "0.6", "--format", "csr", *r)["run"])
    kinds["shrink"] = Path(run_json("prune", "--sparsity", "0.7", "--shrink", *r)["run"])
    kinds["forget"] = Path(run_json("forget", "--class", "7", "--step", "4", "--max-fraction", "0.5", "--compare",
                                    "--probe-samples", "100", "--relearn-steps", "5", *r)["run"])
    kinds["attack"] = Path(run_json("attack", "--eps", "0,0.1,0.2", "--samples", "50", *r)["run"])
    done = sparana("sweep", spec, "seed=1,2", "train.epochs=1", "--runs-dir", root, "--json")
    assert done.returncode == 0, done.stderr
    sweep = json.loads(done.stdout)
    kinds["sweep run"] = Path(sweep["rows"][0]["run"])
    old = root / "tiny-20200101-000000"  # a run as written before provenance.json and device_name
    shutil.copytree(train, old)
    (old / "provenance.json").unlink()
    with h5py.File(old / "model.h5", "a") as f:
        del f.attrs["device_name"]
        f.attrs["created"] = "2020-01-01T00:00:00"
    kinds["older"] = old
    return {"root": root, "kinds": kinds, "sweep": Path(sweep["run"]), "spec": spec}


KINDS = ["train", "prune dense", "prune csr", "shrink", "forget", "attack", "sweep run", "older"]


def test_runs_lists_every_kind_complete_and_readable(world):
    listing = run_json("runs", "--runs-dir", world["root"])
    by_run = {r["run"]: r for r in listing["runs"]}
    for kind in KINDS:
        row = by_run[str(world["kinds"][kind])]
        assert (row["status"], row["state"]) == ("complete", "completed"), (kind, row["message"])
        assert row["metric"] and row["sparsity"] is not None, kind
    csr = by_run[str(world["kinds"]["prune csr"])]
    assert csr["sparsity"] == pytest.approx(0.6 * (36 * 24 + 24 * 16) / (36 * 24 + 24 * 16 + 16 * 10), abs=0.01)
    assert by_run[str(world["kinds"]["forget"])]["metric"].startswith("Df ")
    assert by_run[str(world["kinds"]["attack"])]["metric"].startswith("clean ")
    (sweep,) = listing["sweeps"]
    assert sweep["name"] == world["sweep"].name and len(sweep["runs"]) == 2 and sweep["state"] == "completed"
    assert by_run[str(world["kinds"]["sweep run"])]["sweep"] == world["sweep"].name
    text = invoke("runs", "--runs-dir", world["root"]).stdout
    assert f"  {world['kinds']['sweep run'].name}" in text  # listed under its sweep


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_shown_evaluated_and_plotted(world, kind, tmp_path):
    run, root = world["kinds"][kind], world["root"]
    before = digest(run)
    shown = run_json("runs", "show", run.name, "--runs-dir", root)
    assert shown["state"] == "completed" and shown["spec"]["name"] == "tiny"
    if kind == "older":
        assert shown["provenance"] is None
        assert "written before sparana kept provenance.json" in invoke("runs", "show", run.name, "--runs-dir", root).stdout
    else:
        p = shown["provenance"]
        assert p["argv"][0] == "sparana" and p["ended"] and p["device"] and p["numpy"] and p["h5py"] and p["host"]
        assert "git" in p and "cupy" in p and "python" in p
    if kind not in ("train", "older", "sweep run"):
        assert shown["lineage"]["ancestors"] == [world["kinds"]["train"].name]
    report = run_json("evaluate", run, "--runs-dir", root)
    assert 0 <= report["accuracy"] <= 1
    assert report["formats"] == (["csr", "csr", "dense"] if kind == "prune csr" else ["dense"] * len(report["formats"]))
    plots = run_json("plot", run, "--out", tmp_path / "figs", "--runs-dir", root)["plots"]
    names = sorted(Path(p).name for p in plots)
    expected = {"train": ["per_class.png", "training.png"], "older": ["per_class.png", "training.png"],
                "sweep run": ["per_class.png", "training.png"], "prune dense": ["per_class.png", "prune.png"],
                "prune csr": ["per_class.png", "prune.png"], "shrink": ["per_class.png", "prune.png"],
                "forget": ["forget.png", "per_class.png"], "attack": ["attack.png"]}[kind]
    assert names == expected
    assert all(Path(p).read_bytes().startswith(PNG_MAGIC) for p in plots)
    differences = run_json("runs", "diff", world["kinds"]["train"].name, run.name, "--runs-dir", root)["differences"]
    section = {"prune dense": "prune.", "prune csr": "prune.", "shrink": "prune.", "forget": "forget.",
               "attack": "attack."}.get(kind)
    assert (section is None) or any(key.startswith(section) for key in differences), differences
    assert digest(run) == before  # reading a run never changes it


def test_compare_of_train_csr_child_and_forget_child_is_one_table(world):
    k, root = world["kinds"], world["root"]
    names = [k["train"].name, k["prune csr"].name, k["forget"].name, k["attack"].name, k["older"].name]
    report = run_json("runs", "compare", *names, "--runs-dir", root)
    metrics = report["metrics"]
    assert metrics["model.sparsity"][0] == 0 and metrics["model.sparsity"][1] > 0.4
    assert metrics["forget.df_accuracy"][:2] == [None, None] and metrics["forget.df_accuracy"][2] is not None
    assert metrics["forget/judge.df[retrain]"][2] is not None  # the comparison table, one row per method
    assert "prune.layers" not in metrics and "forget.layers" not in metrics  # settings, not metrics
    assert metrics["test.accuracy"][0] == metrics["test.accuracy"][4]  # the older copy reads the same
    human = invoke("runs", "compare", *names, "--runs-dir", root)
    assert human.exit_code == 0 and "forget/judge.df[ssd]" in human.stdout


def test_plot_keeps_the_figures_a_phase_drew(world):
    dense = world["kinds"]["prune dense"]
    drawn = (dense / "prune.png").read_bytes()
    report = run_json("plot", dense, "--runs-dir", world["root"])
    assert [Path(p).name for p in report["kept"]] == ["prune.png"] and (dense / "prune.png").read_bytes() == drawn
    assert sorted(Path(p).name for p in report["plots"]) == ["per_class.png"]
    (dense / "per_class.png").unlink()  # derived: leave the folder as it was for the other tests


def test_the_sweep_folder_has_its_summary(world):
    folder = world["sweep"]
    assert (folder / "summary.csv").read_text().splitlines()[0] == "train.epochs,n,test_accuracy_mean,test_accuracy_std"
    assert json.loads((folder / "provenance.json").read_text())["argv"][1] == "sweep"


def test_children_are_runs_like_any_other(world, tmp_path):
    """A child's child: attack the CSR child, forget from the shrunk child, prune the forget child."""
    k, r = world["kinds"], ("--runs-dir", tmp_path / "grandchildren")
    attacked = run_json("attack", k["prune csr"], "--eps", "0.1", "--samples", "20", *r)
    assert attacked["parent"] == str(k["prune csr"])
    forgot = run_json("forget", "--run", k["shrink"], "--class", "3", "--step", "2", "--max-fraction", "0.5",
                      "--evaluate", "none", *r)
    assert forgot["parent"] == str(k["shrink"])
    pruned = run_json("prune", "--run", k["forget"], "--sparsity", "0.3", "--format", "csr", *r)
    assert pruned["parent"] == str(k["forget"])
    shown = run_json("runs", "show", Path(pruned["run"]).name, *r)
    assert shown["lineage"]["ancestors"] == [k["forget"].name, k["train"].name]  # across runs folders
