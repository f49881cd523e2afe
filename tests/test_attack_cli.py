"""`sparana attack`: a child run with /attack/ metrics, the parent untouched, bad input refused."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.store import runs
from tests.test_cli import check_refused, invoke, train_json, trained_tiny_run
from tests.test_prune_cli import digest


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A trained LQ run (tiny data), shared by the tests that only read it."""
    return trained_tiny_run(tmp_path_factory.mktemp("attack"))


def attack_json(*args):
    result = invoke("attack", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_attack_writes_a_child_run_and_leaves_the_parent_alone(parent, tmp_path, method):
    before = digest(parent)
    summary = attack_json(parent, "--method", method, "--eps", "0,0.1,0.3", "--steps", "3", "--runs-dir", tmp_path)
    assert digest(parent) == before
    child = Path(summary["run"])
    assert child.parent == tmp_path
    assert sorted(p.name for p in child.iterdir()) == ["metrics.h5", "model.h5", "provenance.json", "spec.yaml", "status.json"]

    spec = yaml.safe_load((child / "spec.yaml").read_text())
    parent_spec = yaml.safe_load((parent / "spec.yaml").read_text())
    assert spec["attack"] == {**parent_spec["attack"], "method": method, "eps": [0.0, 0.1, 0.3], "steps": 3}
    assert {k: v for k, v in spec.items() if k != "attack"} == {k: v for k, v in parent_spec.items() if k != "attack"}

    with h5py.File(child / "model.h5") as f:
        assert f.attrs["phase"] == "attack" and f.attrs["parent"] == str(parent)
    net, parent_net = runs.load_model(child)[0], runs.load_model(parent)[0]
    for a, b in zip(net.weights + net.biases, parent_net.weights + parent_net.biases):
        assert a.tobytes() == b.tobytes()

    arrays, attrs = runs.read_metrics(child)
    m, a = arrays["attack"], attrs["attack"]
    np.testing.assert_array_equal(m["eps"], [0.0, 0.1, 0.3])
    assert a["method"] == method and a["score"] == "onehot_distance" and a["samples"] == 100
    assert m["accuracy"][0] == pytest.approx(a["clean_accuracy"])  # eps 0 changes nothing
    assert m["auroc"][0] == pytest.approx(0.5) and m["fooled_rate"][0] == 0
    assert m["accuracy"][2] < m["accuracy"][0]
    assert np.all(m["linf"] <= m["eps"] + 1e-6) and m["linf"][2] > 0.29
    assert summary["accuracy"] == pytest.approx(list(m["accuracy"]))


def test_attack_settings_from_the_spec_and_a_sample(parent, tmp_path):
    human = invoke("attack", parent, "--eps", "0.2", "--samples", "30", "--runs-dir", tmp_path)
    assert human.exit_code == 0 and "AUROC" in human.stdout and "run: " in human.stdout
    child = runs.finished_runs(tmp_path, "attack")[-1]
    arrays, attrs = runs.read_metrics(child)
    assert attrs["attack"]["samples"] == 30 and attrs["attack"]["method"] == "fgsm"
    assert yaml.safe_load((child / "spec.yaml").read_text())["attack"]["samples"] == 30


def test_cross_entropy_objective_on_an_lq_model(parent, tmp_path):
    own = attack_json(parent, "--eps", "0.3", "--runs-dir", tmp_path)
    ce = attack_json(parent, "--eps", "0.3", "--loss", "cross_entropy", "--runs-dir", tmp_path)
    assert (own["attack_loss"], ce["attack_loss"]) == ("quadratic", "cross_entropy")
    assert ce["loss"] == "quadratic" and ce["score"] == "onehot_distance"  # the model is still the LQ model
    assert yaml.safe_load((Path(ce["run"]) / "spec.yaml").read_text())["attack"]["loss"] == "cross_entropy"
    assert ce["clean_accuracy"] == own["clean_accuracy"] and ce["accuracy"] != own["accuracy"]


def test_softmax_model_gets_the_confidence_score(tmp_path, spec_file):
    run = train_json(spec_file, tmp_path / "runs", "model.output=softmax", "model.loss=cross_entropy")["run"]
    summary = attack_json(run, "--eps", "0,0.2", "--method", "pgd", "--runs-dir", tmp_path / "runs")
    assert summary["score"] == "1-max_softmax" and summary["loss"] == "cross_entropy"
    assert summary["accuracy"][0] == pytest.approx(summary["clean_accuracy"])
    same = attack_json(run, "--eps", "0,0.2", "--method", "pgd", "--loss", "cross_entropy", "--runs-dir", tmp_path / "runs")
    assert [same[k] for k in ("accuracy", "auroc", "linf")] == [summary[k] for k in ("accuracy", "auroc", "linf")]



def test_transfer_attack_crafts_on_one_run_and_evaluates_on_another(parent, tmp_path, spec_file):
    # crafted on the run itself, a transfer attack is the white-box attack, figure for figure
    own = attack_json(parent, "--eps", "0,0.3", "--runs-dir", tmp_path)
    self_transfer = attack_json(parent, "--eps", "0,0.3", "--craft-on", parent, "--runs-dir", tmp_path)
    assert own["crafted_on"] == "" and self_transfer["crafted_on"] == str(parent)
    assert [self_transfer[k] for k in ("accuracy", "auroc", "linf")] == [own[k] for k in ("accuracy", "auroc", "linf")]
    # crafted on an SCE model of the same data: evaluated on the LQ parent, with the SCE model's loss
    source = train_json(spec_file, tmp_path / "src", "model.output=softmax", "model.loss=cross_entropy", "seed=5")["run"]
    source_own = attack_json(source, "--eps", "0,0.3", "--runs-dir", tmp_path)
    moved = attack_json(parent, "--eps", "0,0.3", "--craft-on", source, "--runs-dir", tmp_path)
    assert moved["crafted_on"] == source and moved["attack_loss"] == "cross_entropy" and moved["loss"] == "quadratic"
    assert moved["clean_accuracy"] == own["clean_accuracy"] and moved["accuracy"][0] == pytest.approx(own["clean_accuracy"])
    assert moved["accuracy"][1] != own["accuracy"][1]  # other images than the white-box attack's
    assert moved["accuracy"][1] != source_own["accuracy"][1] or moved["auroc"] != source_own["auroc"]
    assert runs.read_metrics(Path(moved["run"]))[1]["attack"]["crafted_on"] == source


def test_transfer_attack_refuses_a_model_of_other_data(parent, tmp_path, spec_file):
    other = train_json(spec_file, tmp_path / "src", "model.hidden=[5]")["run"]  # same widths in and out
    with h5py.File(Path(other) / "model.h5", "a") as f:
        f.attrs["dataset_checksum"] = "another data set"
    error = check_refused(["attack", parent, "--craft-on", other, "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    assert "same data" in error
    check_refused(["attack", parent, "--craft-on", tmp_path / "nope", "--runs-dir", tmp_path / "runs"], tmp_path / "runs")

BAD_ATTACK = {
    "negative eps": ["--eps=-0.1"],
    "eps above one": ["--eps", "0.1,1.5"],
    "eps not numbers": ["--eps", "0.1,big"],
    "unknown method": ["--method", "cw"],
    "unknown loss": ["--loss", "hinge"],
    "zero steps": ["--steps", "0"],
    "zero samples": ["--samples", "0"],
    "too many samples": ["--samples", "5000"],
    "negative step scale": ["--step-scale", "-1"],
}


@pytest.mark.parametrize("case", BAD_ATTACK)
def test_bad_attack_input(case, parent, tmp_path):
    before = digest(parent)
    check_refused(["attack", parent, *BAD_ATTACK[case], "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    assert digest(parent) == before


def test_attack_a_missing_run(tmp_path):
    check_refused(["attack", tmp_path / "nope", "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    check_refused(["attack", "--runs-dir", tmp_path / "runs"], tmp_path / "runs")


def test_lq_vs_sce_table(tmp_path, spec_file):
    """The batch's table script on LQ and SCE runs of two seeds, each attacked by fgsm and pgd."""
    import csv
    import os
    import subprocess
    import sys

    store = tmp_path / "batch"
    for seed in (0, 1):
        for i, kind in enumerate((["model.output=linear", "model.loss=quadratic"],
                                  ["model.output=softmax", "model.loss=cross_entropy"])):  # SCE: pgd on CE is its pgd
            run = train_json(spec_file, store, *kind, f"seed={seed}", "train.epochs=1")["run"]
            for method, loss in (("fgsm", "model"), ("pgd", "model"), ("pgd", "cross_entropy"))[:3 - i]:
                attack_json(run, "--method", method, "--loss", loss, "--eps", "0.1,0.2", "--steps", "2",
                            "--runs-dir", store)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "scripts" / "lq_vs_sce_table.py"), str(store)],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert "| clean accuracy |" in done.stdout and "| detection AUROC | pgd, CE | 0.2 |" in done.stdout
    table = list(csv.DictReader(open(store / "lq-vs-sce.csv")))
    assert len(table) == 3 * (1 + 3 * 3 * 2)  # LQ, SCE, difference for: clean + 3 figures x 3 attacks x 2 eps
    pgd_lq = next(r for r in table if r["figure"] == "accuracy under attack" and r["attack"] == "pgd"
                  and r["eps"] == "0.2" and r["model"] == "LQ")
    expected = []
    for run in runs.finished_runs(store):
        arrays, attrs = runs.read_metrics(run)
        a = attrs.get("attack", {})
        if a.get("method") == "pgd" and a["loss"] == "quadratic" and a["attack_loss"] == "quadratic":
            expected.append(arrays["attack"]["accuracy"][1])
    assert len(expected) == 2
    assert float(pgd_lq["mean"]) == pytest.approx(np.mean(expected), abs=1e-6) and pgd_lq["n_seeds"] == "2"
    assert subprocess.run(["bash", "-n", str(root / "scripts" / "lq-vs-sce.sh")]).returncode == 0
