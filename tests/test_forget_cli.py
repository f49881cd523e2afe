"""`sparana forget`: the child run, untouched layers and parent, metrics, comparators, settings, bad input."""

import csv
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.engine.metrics import predicted_classes
from sparana_cli.phases import forget_compare
from sparana_cli.store import runs
from sparana_cli.store.listing import list_runs
from sparana_cli.store.reader import load_run_with_data
from sparana_cli.ui import Console
from tests.conftest import tiny_spec
from tests.test_cli import check_refused, invoke, train_json, trained_tiny_run
from tests.test_prune_cli import digest

FAST = ["--step", "4", "--max-fraction", "0.5", "--evaluate", "none"]
QUICK_JUDGE = ["--step", "4", "--max-fraction", "0.5", "--probe-samples", "200", "--relearn-steps", "8"]
STEPWISE = ["--rescore", "every_step", "--repair", "sgd"]  # the earlier default: re-score every step, SGD repair


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    return trained_tiny_run(tmp_path_factory.mktemp("forget-parent"))


@pytest.fixture
def parent(trained_once, runs_dir):
    """A trained run in this test's runs folder (a copy of one trained once for the module)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(trained_once, runs_dir / trained_once.name))


def forget_json(runs_dir, *args):
    result = invoke("forget", *args, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_forget_writes_a_child_and_leaves_the_parent_byte_identical(parent, runs_dir):
    before = digest(parent)
    summary = forget_json(runs_dir, "--class", "7", "--score", "taylor_disc", *FAST, *STEPWISE)
    assert digest(parent) == before
    child = Path(summary["run"])
    assert child.parent == runs_dir and child.name.startswith("tiny-forget-") and not child.name.endswith(".tmp")
    assert {"run", "df_before", "df_after", "dr_before", "dr_after", "removed", "removed_fraction", "seconds"} <= summary.keys()
    assert all(0 <= summary[k] <= 1 for k in ("df_before", "df_after", "dr_before", "dr_after", "removed_fraction"))
    assert summary["df_before"] > 0.5 > summary["df_after"] and summary["dr_after"] > 0.5
    assert summary["reached"] and summary["stop"] in ("target", "no_positive_score")  # the overshoot may run dry
    with h5py.File(child / "model.h5") as f:
        assert f.attrs["phase"] == "forget" and f.attrs["parent"] == str(parent.resolve())
    spec = yaml.safe_load((child / "spec.yaml").read_text())
    assert spec["forget"]["target_class"] == 7 and spec["forget"]["step"] == 4 and spec["model"]["hidden"] == [24, 16]

    net, old = runs.load_model(child)[0], runs.load_model(parent)[0]
    # by default the seed's scores prune only the hidden-to-hidden matrix: the first and the output layer keep
    # every weight; the repair fine-tune moves the live weights and keeps the pruned ones at zero
    assert summary["layers"] == [1] and summary["removed"][0] == summary["removed"][2] == 0
    for i in (0, 2):
        assert net.masks[i].all() and not np.array_equal(net.weights[i], old.weights[i])
    gone = ~net.masks[1]
    assert int(gone.sum()) == summary["removed"][1] > 0 and np.all(net.weights[1][gone] == 0)
    unrepaired = Path(forget_json(runs_dir, "--class", "7", "--run", parent, "--score", "taylor_disc", *FAST,
                                  *STEPWISE, "--repair-steps", "0")["run"])
    pruned_only = runs.load_model(unrepaired)[0]
    np.testing.assert_array_equal(pruned_only.masks[1], net.masks[1])
    np.testing.assert_array_equal(pruned_only.weights[1][~gone], old.weights[1][~gone])
    for i in (0, 2):
        np.testing.assert_array_equal(pruned_only.weights[i], old.weights[i])
    assert summary["removed_fraction"] == pytest.approx(summary["removed"][1] / net.masks[1].size)

    arrays, attrs = runs.read_metrics(child)
    steps = len(summary["steps"])
    forget = arrays["forget"]
    assert forget["removed"].shape == (steps, 3) and forget["per_class_accuracy"].shape == (steps, 10)
    assert forget["target_outputs"].shape == (steps, 10)
    np.testing.assert_array_equal(forget["weights_removed"], forget["removed"].sum(axis=1))
    # pruning removes more at every step; the repair (the last entry) fine-tunes what is left and removes nothing
    assert np.all(np.diff(forget["weights_removed"][:-1]) > 0)
    assert forget["weights_removed"][-1] == forget["weights_removed"][-2] == sum(summary["removed"])
    assert forget["df_acc"][0] == pytest.approx(summary["df_before"]) and forget["val_df"][-2] <= 0.01
    assert attrs["forget"]["df_accuracy"] == pytest.approx(summary["df_after"])
    assert attrs["forget"]["dr_accuracy"] == pytest.approx(summary["dr_after"])
    assert attrs["test"]["accuracy"] == pytest.approx(arrays["test"]["confusion"].trace() / 100)
    # the last step recorded is the network saved: the repair moved layer 0 too, below the first pruned layer
    np.testing.assert_array_equal(forget["per_class_accuracy"][-1], arrays["test"]["per_class_accuracy"])
    # the target's mean output falls as its weights go
    assert forget["target_outputs"][-1, 7] < forget["target_outputs"][0, 7]
    assert not (child / "forget.png").exists()  # --evaluate none alone: `sparana plot` draws it
    row = next(r for r in list_runs(runs_dir) if r["run"] == str(child))
    assert row["phase"] == "forget" and row["metric"].startswith("Df ") and " Dr " in row["metric"]
    drawn = invoke("plot", child, "--out", runs_dir.parent / "plots", "--runs-dir", runs_dir)
    assert drawn.exit_code == 0 and (runs_dir.parent / "plots" / "forget.png").stat().st_size > 1000


def test_probe_score_prunes_every_layer_below_the_last_hidden_one_by_default(parent, runs_dir):
    summary = forget_json(runs_dir, "--class", "3", *FAST)
    assert summary["score"] == "probe" and summary["layers"] == [0, 1] and summary["removed"][2] == 0
    assert summary["df_after"] <= 0.5 < summary["df_before"]
    line = check_refused(["forget", "--class", "3", "--layers", "1,2", "--runs-dir", runs_dir], runs_dir)
    assert "--layers" in line and "probe" in line


def test_human_output_prints_the_steps_and_the_judged_table(parent, runs_dir):
    result = invoke("forget", "--class", "0", *QUICK_JUDGE, "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.stderr
    for text in ("step   0:", "val Df", "weights removed", "class 0: Df", "probe L2", "relearn steps", "parent",
                 "forget (probe)", "run: "):
        assert text in result.stdout
    quiet = invoke("forget", "--class", "0", "--run", parent, *FAST, "--runs-dir", runs_dir)
    assert "probe L2" not in quiet.stdout and "parent" not in quiet.stdout


def test_judged_table_in_metrics_csv_and_comparator_runs(parent, runs_dir):
    summary = forget_json(runs_dir, "--class", "5", *QUICK_JUDGE, "--compare")
    child = Path(summary["run"])
    methods = [r["method"] for r in summary["judge"]]
    assert methods == ["parent", "forget (probe)", "retrain", "random", "magnitude", "ssd", "ssd_fixed", "project",
                       "salun", "finetune", "head"]
    with open(child / "compare.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == methods
    assert list(rows[0])[:4] == ["method", "df", "dr", "probe_recall"]
    with h5py.File(child / "metrics.h5") as f:
        assert [m.decode() for m in f["forget/judge/method"][()]] == methods
        np.testing.assert_allclose(f["forget/judge/df"][()], [r["df"] for r in summary["judge"]])
        assert f["forget/judge/relearn_curve"].shape == (len(methods), 9)
    by = {r["method"]: r for r in summary["judge"]}
    total = sum(summary["removed"])
    assert by["random"]["weights_changed"] == by["magnitude"]["weights_changed"] == total  # equal weight counts
    assert by["retrain"]["df"] == 0  # it never saw the class
    assert by["parent"]["weights_changed"] == 0 and by["parent"]["df"] == summary["df_before"]
    assert by["parent"]["relearn_steps"] == 0  # the no-op control is at the parent's level before any step
    assert by["parent"]["anamnesis"] == 0 and by["retrain"]["anamnesis"] == 1
    assert "chosen on validation" in by["ssd"]["setting"] and "alpha 10, lambda 1" == by["ssd_fixed"]["setting"]
    assert all("chosen on validation" in by[m]["setting"] for m in ("project", "salun", "finetune"))
    # head refits the output layer alone: every hidden layer, so the last hidden layer's probe, is the parent's
    assert by["head"]["probe_recall"] == by["parent"]["probe_recall"]
    assert by["head"]["weights_changed"] > 0
    assert all(0 <= r["probe_recall"] <= 1 and r["seconds"] >= 0 for r in summary["judge"])
    # every comparator is a child run of the parent with its figures, and evaluate re-judges the child alike
    for r in summary["judge"][2:]:
        run = Path(r["run"])
        assert runs.read_model_attrs(run)["parent"] == str(parent.resolve())
        _, attrs = runs.read_metrics(run)
        assert attrs["forget"]["method"] == r["method"] and attrs["forget"]["df_accuracy"] == r["df"]
    again = json.loads(invoke("evaluate", child, "--forget-class", "5", "--runs-dir", runs_dir, "--json").stdout)
    assert again["retrain"] == by["retrain"]["run"]
    assert [r["method"] for r in again["judge"]] == ["parent", child.name, "retrain"]
    for before, now in zip([by["parent"], by["forget (probe)"], by["retrain"]], again["judge"]):
        for key in ("df", "dr", "probe_recall", "relearn_steps", "anamnesis"):
            assert now[key] == pytest.approx(before[key]), key
    # on the validation split, Df is what the stop rule saw: the parent's first step, the child's last
    val = json.loads(invoke("evaluate", child, "--forget-class", "5", "--split", "val", "--runs-dir", runs_dir,
                            "--json").stdout)
    assert val["split"] == "val" and again["split"] == "test"
    assert val["judge"][0]["df"] == pytest.approx(summary["steps"][0]["val_df"])
    assert val["judge"][1]["df"] == pytest.approx(summary["steps"][-1]["val_df"])
    # and Dr is the parent's accuracy on the other classes' validation images, not on the test images
    _, net, _, data, _ = load_run_with_data(parent, Console(json_mode=True), "cpu")
    rest = data.y_val != 5
    val_dr = float((predicted_classes(net, data.x_val[rest]) == data.y_val[rest]).mean())
    assert val_dr != pytest.approx(again["judge"][0]["dr"])  # the two splits tell apart here
    assert val["judge"][0]["dr"] == pytest.approx(val_dr)


def test_evaluate_forget_class_needs_a_derived_run(parent, runs_dir):
    line = check_refused(["evaluate", parent, "--forget-class", "1", "--runs-dir", runs_dir], runs_dir)
    assert "no parent run" in line
    child = Path(forget_json(runs_dir, "--class", "1", *FAST)["run"])
    line = check_refused(["evaluate", child, "--forget-class", "12", "--runs-dir", runs_dir], runs_dir)
    assert "--forget-class 12" in line
    line = check_refused(["evaluate", child, "--split", "val", "--runs-dir", runs_dir], runs_dir)
    assert "--split" in line and "--forget-class" in line


def test_retrain_comparator_never_sees_the_class(parent, runs_dir, monkeypatch):
    seen = []
    real_fit = forget_compare.fit

    def spy(net, spec, train_xy, val_xy, console, **kwargs):
        seen.append((np.unique(train_xy[1]), np.unique(val_xy[1]), kwargs.get("label")))
        return real_fit(net, spec, train_xy, val_xy, console, **kwargs)

    monkeypatch.setattr(forget_compare, "fit", spy)
    forget_json(runs_dir, "--class", "2", *FAST, "--compare", "retrain")
    assert [label for _, _, label in seen] == ["retrain"]
    for train_classes, val_classes, _ in seen:
        assert 2 not in train_classes and 2 not in val_classes and len(train_classes) == 9


@pytest.mark.parametrize("gives_back, rounds", [(1, 2), (99, 3)])
def test_pruning_starts_again_while_the_repair_gives_the_class_back(gives_back, rounds, parent, runs_dir, monkeypatch):
    """A repair that undoes the pruning (the first `gives_back` times) brings the class back: another round follows,
    up to --repair-rounds, and every round's removals count in the totals."""
    from sparana_cli.phases import forget as forget_phase

    original, calls = runs.load_model(parent)[0], []

    def undoing_repair(net, *args, **kwargs):
        calls.append(kwargs["round_index"])
        if len(calls) <= gives_back:
            for i in range(net.n_layers):
                net.weights[i][...], net.masks[i][...] = original.weights[i], original.masks[i]

    monkeypatch.setattr(forget_phase, "repair", undoing_repair)
    result = invoke("forget", "--class", "7", *FAST, *STEPWISE, "--repair-rounds", "3", "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert calls == list(range(rounds)) and summary["rounds"] == rounds, result.stderr
    assert ("gives part of the class back" in result.stderr) == (gives_back > rounds)
    steps = summary["steps"]
    assert (steps[-1]["val_df"] <= 0.01) == (gives_back < rounds)
    # every repair is recorded once, removing nothing (the next round's first step, or the last entry); pruning
    # removes more at every other step, each round adding to the earlier rounds' totals
    removed = [s["weights_removed"] for s in steps]
    repaired = [i for i in range(1, len(removed)) if removed[i] == removed[i - 1]]
    assert len(repaired) == rounds and repaired[-1] == len(removed) - 1
    assert all(b > a for i, (a, b) in enumerate(zip(removed, removed[1:]), 1) if i not in repaired)
    assert sum(summary["removed"]) == removed[-1]
    for i in repaired[:-1]:  # the repair gave the class back, so the stop rule's images are recognised again
        assert steps[i]["val_df"] > 0.5


def test_spec_section_is_the_default_and_options_win(tmp_path, idx_folder, runs_dir):
    spec = tmp_path / "with-forget.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, forget={"target_class": 2, "score": "diff", "step": 3,
                                                                  "max_fraction": 0.5, "evaluate": "none",
                                                                  "relearn_epochs": 1})))
    train_json(spec, runs_dir)
    from_spec = forget_json(runs_dir)
    assert (from_spec["class"], from_spec["score"], from_spec["settings"]["step"]) == (2, "diff", 3)
    assert from_spec["judge"] == [] and from_spec["probe_recall"] is None  # evaluate: none; relearn_epochs ignored
    again = forget_json(runs_dir, "--class", "4", "--step-fraction", "0.02", "--score", "maxother")
    recorded = yaml.safe_load((Path(again["run"]) / "spec.yaml").read_text())["forget"]
    assert (recorded["target_class"], recorded["score"], recorded["step"], recorded["step_fraction"]) == (
        4, "maxother", None, 0.02)


@pytest.mark.parametrize("score", ["diff", "maxother", "ratio", "taylor", "taylor_probe"])
def test_every_score_runs(score, parent, runs_dir):
    summary = forget_json(runs_dir, "--class", "1", "--score", score, *FAST)
    assert summary["score"] == score and sum(summary["removed"]) > 0


BAD_FORGET = {
    "class out of range": ["--class", "10"],
    "negative class": ["--class", "-1"],
    "no class": [],
    "negative step": ["--class", "1", "--step", "-4"],
    "step fraction above 1": ["--class", "1", "--step-fraction", "1.5"],
    "step and step fraction": ["--class", "1", "--step", "4", "--step-fraction", "0.01"],
    "unknown score": ["--class", "1", "--score", "biggest"],
    "layer out of range": ["--class", "1", "--layers", "3"],
    "target above 1": ["--class", "1", "--target", "1.5"],
    "overshoot below 1": ["--class", "1", "--overshoot", "0.5"],
    "zero overshoot steps": ["--class", "1", "--overshoot-steps", "0"],
    "zero samples": ["--class", "1", "--samples", "0"],
    "unknown comparator": ["--class", "1", "--compare", "retrain,nope"],
    "unknown evaluation": ["--class", "1", "--evaluate", "some"],
    "zero relearn steps": ["--class", "1", "--relearn-steps", "0"],
    "missing run": ["--class", "1", "--run", "nope"],
}


@pytest.mark.parametrize("case", BAD_FORGET)
def test_bad_forget_input(case, parent, runs_dir):
    before = digest(parent)
    line = check_refused(["forget", *BAD_FORGET[case], "--runs-dir", runs_dir], runs_dir)
    assert digest(parent) == before
    named = {"class out of range": "--class 10", "negative class": "--class", "no class": "--class",
             "negative step": "--step", "step fraction above 1": "--step-fraction", "unknown score": "--score",
             "layer out of range": "--layers", "target above 1": "--target", "overshoot below 1": "--overshoot",
             "zero overshoot steps": "--overshoot-steps", "zero samples": "--samples", "unknown comparator": "--compare",
             "missing run": "nope", "unknown evaluation": "--evaluate", "zero relearn steps": "--relearn-steps"}
    assert named.get(case, "") in line


def test_forget_with_a_network_without_hidden_to_hidden_layers(tmp_path, idx_folder, runs_dir):
    spec = tmp_path / "one-hidden.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, model={"hidden": [12]})))
    train_json(spec, runs_dir)
    line = check_refused(["forget", "--class", "1", "--score", "diff", "--runs-dir", runs_dir], runs_dir)
    assert "--layers" in line
    summary = forget_json(runs_dir, "--class", "1", "--layers", "0", "--score", "taylor_disc", *FAST)
    assert summary["layers"] == [0] and summary["removed"][0] > 0 and summary["removed"][1] == 0


def test_forget_each_class_script_writes_one_row_per_class(parent, runs_dir, tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "each.csv"
    env = {**os.environ, "CLASSES": "6 7", "PYTHON": sys.executable, "SPARANA": f"{sys.executable} -m sparana_cli",
           "OPENBLAS_NUM_THREADS": "1"}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(["bash", root / "scripts" / "forget_each_class.sh", parent, out, "--", *QUICK_JUDGE,
                           "--score", "taylor_disc", "--compare", "random,magnitude"],
                          env=env, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["class"] for r in rows] == ["6", "7"]
    for row in rows:
        child = Path(row["run"])
        assert child.parent == runs_dir
        _, attrs = runs.read_metrics(child)
        assert float(row["df_after"]) == attrs["forget"]["df_accuracy"] and 0 <= float(row["probe_recall"]) <= 1
        assert int(row["weights_removed"]) == int(np.sum(~runs.load_model(child)[0].masks[1]))
    compared = list(csv.DictReader((tmp_path / "each-judged.csv").open()))
    assert [(r["class"], r["method"]) for r in compared] == [
        (c, m) for c in ("6", "7") for m in ("parent", "forget (taylor_disc)", "random", "magnitude")]


def test_the_readout_repair_scores_once_prunes_a_prefix_and_refits_only_the_read_out(parent, runs_dir):
    summary = forget_json(runs_dir, "--class", "3", "--max-fraction", "0.5", "--evaluate", "none",
                          "--repair", "readout")
    assert summary["settings"]["rescore"] == "never" and summary["settings"]["repair"] == "readout"
    assert summary["reached"] and summary["steps"][-1]["val_df"] <= 0.01 and len(summary["steps"]) == 2
    net, old = runs.load_model(Path(summary["run"]))[0], runs.load_model(parent)[0]
    threshold, removed = summary["threshold_removed"], summary["removed"]
    for i in summary["layers"]:  # the overshoot multiplies the smallest fraction that met the target
        assert threshold[i] <= removed[i] == int((~net.masks[i]).sum() - (~old.masks[i]).sum())
        live = net.masks[i]
        np.testing.assert_array_equal(net.weights[i][live], old.weights[i][live])  # pruning alone moved them
        assert not (live & ~old.masks[i]).any()
    out = net.n_layers - 1
    np.testing.assert_array_equal(net.masks[out], old.masks[out])
    assert not np.array_equal(net.weights[out], old.weights[out])  # the closed-form repair refit the read-out
    assert not (Path(summary["run"]) / "forget.png").exists()


def test_the_default_repair_refits_the_layers_above_the_first_pruned_one_and_keeps_pruned_weights_at_zero(
        parent, runs_dir):
    summary = forget_json(runs_dir, "--class", "3", "--max-fraction", "0.5", "--evaluate", "none")
    assert summary["settings"]["repair"] == "features" and summary["settings"]["overshoot"] == 2
    assert summary["reached"] and summary["steps"][-1]["val_df"] <= 0.01
    net, old = runs.load_model(Path(summary["run"]))[0], runs.load_model(parent)[0]
    first = min(summary["layers"])
    live = net.masks[first]
    np.testing.assert_array_equal(net.weights[first][live], old.weights[first][live])  # below the refit: pruned only
    np.testing.assert_array_equal(net.biases[first], old.biases[first])
    for i in range(first + 1, net.n_layers):
        assert not net.weights[i][~net.masks[i]].any()  # what was pruned stays pruned
        assert not np.array_equal(net.weights[i][net.masks[i]], old.weights[i][net.masks[i]])  # refit


def test_the_default_forgetting_process_imports_neither_numba_nor_matplotlib(parent, runs_dir):
    import subprocess
    import sys

    code = ("import sys, runpy; sys.argv = ['sparana'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('sparana_cli', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
            "print(sorted(m for m in ('numba', 'matplotlib', 'scipy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, "forget", "--class", "2", "--run", str(parent), "--evaluate",
                           "none", "--runs-dir", str(runs_dir)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_the_default_prunes_further_while_the_closed_form_repair_gives_the_class_back(parent, runs_dir, monkeypatch):
    """A refit that undoes the pruning on its first call: a second round prunes search_growth times as much."""
    from sparana_cli.phases import forget as forget_phase

    original, calls = runs.load_model(parent)[0], []

    def undoing_refit(net, *args):
        calls.append(len(calls))
        if len(calls) == 1:
            net.load_state(original)

    monkeypatch.setattr(forget_phase, "feature_refit", undoing_refit)
    summary = forget_json(runs_dir, "--class", "3", "--max-fraction", "0.5", "--evaluate", "none", "--overshoot", "1",
                          "--bisections", "0")
    assert calls == [0, 1] and summary["rounds"] == 2 and summary["steps"][-1]["val_df"] <= 0.01
    for i in summary["layers"]:  # round 2 prunes twice the fraction of round 1 (which was the threshold itself)
        assert summary["removed"][i] > summary["threshold_removed"][i]


def test_cpu_seconds_script_times_each_forget_and_the_training(parent, runs_dir, tmp_path):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "cpu.csv"
    env = {**os.environ, "CLASSES": "1 4", "SPARANA": f"{sys.executable} -m sparana_cli", "PYTHONPATH": str(root),
           "RUNS_DIR": str(runs_dir)}
    done = subprocess.run(["bash", root / "scripts" / "forget_vs_train_cpu.sh", parent, parent / "spec.yaml", out],
                          env=env, capture_output=True, text=True, cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [(r["command"], r["class"]) for r in rows] == [("forget", "1"), ("forget", "4"), ("train", "-")]
    assert all(float(r["cpu_s"]) > 0 and float(r["wall_s"]) > 0 for r in rows)
    assert len([p for p in runs_dir.iterdir() if "-forget-" in p.name]) == 2


def test_a_repair_that_finishes_what_pruning_could_not_reaches_the_target_without_a_warning(parent, runs_dir):
    """The one-pass default with so small a ceiling that pruning alone leaves the class: the feature refit aims it
    at the classes it resembles, so the forgotten network meets the target and nothing says otherwise."""
    result = invoke("forget", "--class", "7", "--max-fraction", "0.001", "--evaluate", "none", "--runs-dir", runs_dir,
                    "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stop"] == "max_fraction"  # pruning alone did not get there
    assert summary["steps"][-1]["val_df"] <= 0.01 and summary["reached"]
    assert "stayed above" not in result.stderr and "target not reached" not in result.stderr
    cut = invoke("forget", "--class", "7", "--max-fraction", "0.001", "--repair", "none", "--evaluate", "none",
                 "--runs-dir", runs_dir, "--json")
    assert cut.exit_code == 0, cut.stderr
    assert not json.loads(cut.stdout)["reached"] and "stayed above" in cut.stderr
