"""`sparana runs` (list, --csv, --json), `runs compare`, `runs diff`, and `sparana plot`."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.errors import Interrupted
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.store import runs
from sparana_cli.ui import Console
from tests.conftest import tiny_spec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def forget_child(parent: Path) -> Path:
    """A child run as a forget phase would write it: pruned masks, per-step Df/Dr curves, Df/Dr summaries."""
    net, attrs = runs.load_model(parent)
    net.masks[1][:6] = False
    net.apply_masks()
    with runs.new_run(parent.parent, "tiny-forget", phase="forget") as run:
        shutil.copy(parent / "spec.yaml", run.tmp / "spec.yaml")
        runs.save_model(run.tmp / runs.MODEL_FILE, net, {**attrs, "phase": "forget", "parent": str(parent),
                                                         "created": "2999-01-01T00:00:00"})
        removed = np.arange(0, 60, 10)
        runs.write_metrics(run.tmp / runs.METRICS_FILE,
                           {"forget": {"weights_removed": removed, "df_acc": 1 - removed / 50, "dr_acc": 0.9 - removed / 1e3},
                            "test": {"per_class_accuracy": np.r_[np.full(7, 0.9), 0.02, 0.9, 0.9]}},
                           {"forget": {"df_accuracy": 0.02, "dr_accuracy": 0.875}, "test": {"accuracy": 0.8}})
    return run.path


@pytest.fixture
def store(idx_folder, tmp_path):
    """A runs folder with two finished runs, an interrupted one, a killed one, a forget child and a sweep folder."""
    root = tmp_path / "runs"
    console = Console(json_mode=True)
    a = Path(train(spec_from_mapping(tiny_spec(idx_folder), "s"), root=root, console=console)["run"])
    b = Path(train(spec_from_mapping(tiny_spec(idx_folder), "s", ["model.hidden=[8]", "train.lr=0.02"]),
                   root=root, console=console)["run"])
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] == 4

    with pytest.raises(Interrupted):
        train(spec_from_mapping(tiny_spec(idx_folder), "s"), root=root, console=console, stop=stop)
    killed = runs.reserve_run(root, "gone", phase="train")
    runs.write_spec(killed.tmp, spec_from_mapping(tiny_spec(idx_folder), "s"))
    killed.release()  # what the kernel does when a process is killed
    sweep = runs.reserve_run(root, "tiny-sweep", phase="sweep")
    runs.finish_run(sweep)
    return {"root": root, "a": a, "b": b, "child": forget_child(a), "killed": killed.tmp}


def test_runs_lists_every_run_with_its_state(store):
    listing = json.loads(invoke("runs", "--runs-dir", store["root"], "--json").stdout)
    by_name = {Path(r["run"]).name: r for r in listing["runs"]}
    assert len(by_name) == 5  # the sweep folder is not a run
    a, child = by_name[store["a"].name], by_name[store["child"].name]
    assert (a["phase"], a["status"], a["state"], a["dataset"], a["sparsity"]) == ("train", "complete", "completed", "mnist", 0)
    assert a["metric"] == f"test {100 * a['test_accuracy']:.2f}%" and a["test_accuracy"] > 0.3
    assert (child["phase"], child["parent"], child["metric"]) == ("forget", store["a"].name, "Df 2.00% Dr 87.50%")
    assert child["sparsity"] == pytest.approx(6 * 16 / (36 * 24 + 24 * 16 + 16 * 10))
    interrupted = next(r for r in listing["runs"] if r["state"] == "interrupted")
    assert interrupted["status"] == "incomplete" and interrupted["progress"] == {"epoch": 0, "step": 4, "epochs": 3}
    assert by_name[store["killed"].name]["state"] == "killed"
    assert listing["runs"][-1]["run"] == str(store["child"])  # oldest first; the child claims year 2999

    text = invoke("runs", "--runs-dir", store["root"]).stdout
    assert "incomplete (interrupted in epoch 1/3 after step 4)" in text and "incomplete (killed)" in text
    assert "Df 2.00% Dr 87.50%" in text
    rows = list(csv.DictReader(io.StringIO(invoke("runs", "--runs-dir", store["root"], "--csv").stdout)))
    assert [r["name"] for r in rows] == [Path(r["run"]).name for r in listing["runs"]]
    assert {r["status"] for r in rows} == {"complete", "incomplete"}


def test_runs_in_an_empty_folder(tmp_path):
    assert "no runs in" in invoke("runs", "--runs-dir", tmp_path / "none").stdout
    assert json.loads(invoke("runs", "--runs-dir", tmp_path / "none", "--json").stdout)["runs"] == []


def test_compare_puts_metrics_side_by_side(store):
    a, b, child = store["a"], store["b"], store["child"]
    report = json.loads(invoke("runs", "compare", a.name, b.name, child, "--runs-dir", store["root"], "--json").stdout)
    assert report["run"] == [str(a), str(b), str(child)]
    metrics = report["metrics"]
    acc_a, acc_b = (runs.read_metrics(r)[1]["test"]["accuracy"] for r in (a, b))
    assert metrics["test.accuracy"] == [acc_a, acc_b, 0.8]
    assert metrics["forget.df_accuracy"] == [None, None, 0.02]
    assert metrics["test.per_class_accuracy[7]"][2] == pytest.approx(0.02)
    assert metrics["train.val_accuracy (last)"][:2] == [float(runs.read_metrics(r)[0]["train"]["val_accuracy"][-1])
                                                         for r in (a, b)]
    assert metrics["model.sparsity"][0] == 0 and metrics["model.sparsity"][2] > 0
    assert "test.per_class_accuracy[7]" in invoke("runs", "compare", a.name, child.name, "--runs-dir", store["root"]).stdout


def test_runs_options_given_to_the_group_reach_the_subcommand(store):
    out = invoke("runs", "--runs-dir", store["root"], "--json", "compare", store["a"].name, store["b"].name).stdout
    assert json.loads(out)["run"][0] == str(store["a"])


def test_diff_shows_only_the_keys_that_differ(store):
    report = json.loads(invoke("runs", "diff", store["a"].name, store["b"].name, "--runs-dir", store["root"], "--json").stdout)
    assert report["differences"] == {"model.hidden": [[24, 16], [8]], "train.lr": [0.01, 0.02]}
    same = invoke("runs", "diff", store["a"].name, store["child"].name, "--runs-dir", store["root"]).stdout
    assert "identical" in same


def _results(folder: Path):
    return {name: (folder / name).read_bytes() for name in ("spec.yaml", "model.h5", "metrics.h5", "status.json")}


def test_plot_writes_derived_pngs_and_leaves_the_results_alone(store):
    a = store["a"]
    before = _results(a)
    report = json.loads(invoke("plot", a.name, "--runs-dir", store["root"], "--json").stdout)
    assert sorted(Path(p).name for p in report["plots"]) == ["per_class.png", "training.png"]
    for path in report["plots"]:
        data = Path(path).read_bytes()
        assert Path(path).parent == a and data.startswith(PNG_MAGIC) and len(data) > 5000
    assert _results(a) == before
    assert not list(a.glob("*.part"))
    invoke("plot", a.name, "--runs-dir", store["root"])  # again: the figures are replaced, nothing else changes
    assert _results(a) == before


def test_plot_of_a_child_run_draws_its_tradeoff_curves(store, tmp_path):
    child = store["child"]
    before = sorted(p.name for p in child.iterdir())
    out = tmp_path / "figures"
    report = json.loads(invoke("plot", child, "--out", out, "--runs-dir", store["root"], "--json").stdout)
    assert sorted(Path(p).name for p in report["plots"]) == ["forget.png", "per_class.png"]
    assert all(Path(p).parent == out and Path(p).read_bytes().startswith(PNG_MAGIC) for p in report["plots"])
    assert sorted(p.name for p in child.iterdir()) == before  # --out: the run folder gets nothing


def test_plot_defaults_to_the_newest_training_run(store):
    result = invoke("plot", "--runs-dir", store["root"], "--json")
    assert json.loads(result.stdout)["run"] == str(store["b"])  # not the newer forget child
    assert f"run: {store['b'].name} (the newest finished train run" in result.stderr


def test_a_damaged_run_is_listed_as_such_without_hiding_the_others(store):
    (store["b"] / "model.h5").write_bytes(b"not hdf5")
    listing = json.loads(invoke("runs", "--runs-dir", store["root"], "--json").stdout)
    states = {Path(r["run"]).name: r["state"] for r in listing["runs"]}
    assert states[store["b"].name] == "damaged" and states[store["a"].name] == "completed"
    assert "model.h5" in next(r["message"] for r in listing["runs"] if r["state"] == "damaged")


def test_key_metric_by_phase():
    from sparana_cli.store.listing import key_metric

    assert key_metric("train", {"test": {"accuracy": 0.9451}}) == "test 94.51%"
    assert key_metric("attack", {"attack": {"clean_accuracy": 0.9}}) == "clean 90.00%"
    assert key_metric("forget", {"forget": {"df_accuracy": 0.02, "dr_accuracy": 0.951}}) == "Df 2.00% Dr 95.10%"
    assert key_metric("forget", {"test": {"accuracy": 0.5}}) == "test 50.00%"  # falls back when the phase wrote none


def test_runs_filters_and_sort(store):
    root = store["root"]

    def names(*args):
        return [Path(r["run"]).name for r in json.loads(invoke("runs", "--runs-dir", root, "--json", *args).stdout)["runs"]]

    assert names("--phase", "forget") == [store["child"].name]
    assert names("--parent", store["a"].name) == [store["child"].name]
    assert set(names("--state", "incomplete")) == {store["killed"].name, *names("--state", "interrupted")}
    assert names("--state", "killed") == [store["killed"].name]
    assert names("--where", "model.hidden=[8]") == [store["b"].name]
    assert names("--where", "train.lr=0.02", "--where", "model.hidden=[8]") == [store["b"].name]
    assert names("--dataset", "fashion-mnist") == []
    accuracies = [r["test_accuracy"] for r in json.loads(invoke("runs", "--runs-dir", root, "--json", "--sort",
                                                                 "-test_accuracy").stdout)["runs"]]
    known = [a for a in accuracies if a is not None]
    assert known == sorted(known, reverse=True) and accuracies[len(known):] == [None] * (len(accuracies) - len(known))
    bad = CliRunner().invoke(main, ["runs", "--runs-dir", str(root), "--sort", "colour"])
    assert bad.exit_code == 2 and "--sort colour" in bad.stderr


def test_runs_rm_asks_refuses_parents_and_removes(store):
    root = store["root"]
    refused = CliRunner().invoke(main, ["runs", "rm", store["a"].name, "--runs-dir", str(root), "--yes"])
    assert refused.exit_code == 2 and "child run" in refused.stderr and store["a"].is_dir()
    kept = CliRunner().invoke(main, ["runs", "rm", store["b"].name, "--runs-dir", str(root)], input="n\n")
    assert kept.exit_code == 0 and "will remove 1 folder" in kept.stderr and store["b"].is_dir()
    unanswered = CliRunner().invoke(main, ["runs", "rm", store["b"].name, "--runs-dir", str(root)], input="")
    assert unanswered.exit_code == 2 and "--yes" in unanswered.stderr and store["b"].is_dir()
    gone = CliRunner().invoke(main, ["runs", "rm", store["b"].name, "--runs-dir", str(root)], input="y\n")
    assert gone.exit_code == 0 and not store["b"].exists()
    report = json.loads(invoke("runs", "rm", "--incomplete", "--runs-dir", root, "--yes", "--json").stdout)
    assert store["killed"].name in {Path(p).name for p in report["run"]} and report["removed"]
    assert not any(p.name.endswith(".tmp") for p in root.iterdir())
    invoke("runs", "rm", store["a"].name, "--recursive", "--runs-dir", root, "--yes")
    assert not store["a"].exists() and not store["child"].exists()


def test_the_readme_commands_work_in_sequence(tmp_path, monkeypatch):
    """`sparana train configs/mnist.yaml`, `sparana prune --method maav`, `sparana forget --class 7`, as written
    (training shortened to one epoch); prune and forget both start from the trained run."""
    config = Path(__file__).resolve().parent.parent / "configs" / "mnist.yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARANA_RUNS", raising=False)
    trained = json.loads(invoke("train", config, "train.epochs=1", "--json").stdout)["run"]
    pruned = CliRunner().invoke(main, ["prune", "--method", "maav"])
    assert pruned.exit_code == 0, pruned.stderr
    assert f"run: {Path(trained).name} (the newest finished train run" in pruned.stderr
    forgot = CliRunner().invoke(main, ["forget", "--class", "7"])
    assert forgot.exit_code == 0, forgot.stderr
    assert f"run: {Path(trained).name}" in forgot.stderr  # from the trained run, not the pruned child
    listing = json.loads(invoke("runs", "--json").stdout)["runs"]
    assert [(r["phase"], r["parent"]) for r in listing] == [("train", ""), ("prune", Path(trained).name),
                                                           ("forget", Path(trained).name)]


def test_runs_show_a_finished_and_an_unfinished_run(store):
    root = store["root"]
    child = json.loads(invoke("runs", "show", store["child"].name, "--runs-dir", root, "--json").stdout)
    assert child["lineage"] == {"ancestors": [store["a"].name], "descendants": []}
    assert child["metrics"]["forget.df_accuracy"] == 0.02 and child["phase"] == "forget"
    parent = json.loads(invoke("runs", "show", store["a"].name, "--runs-dir", root, "--json").stdout)
    assert parent["lineage"]["descendants"] == [store["child"].name]
    assert parent["provenance"]["sparana_version"] and parent["provenance"]["ended"]
    killed = invoke("runs", "show", store["killed"].name, "--runs-dir", root).stdout
    assert "killed" in killed and "made by:" in killed and "(not ended)" in killed
