"""`sparana prune`: child runs, exact amounts, the output layer, fine-tuning, shrink, CSR, settings, bad input."""

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.analysis.pruning import zeros_for
from sparana_cli.store import runs
from tests.conftest import tiny_spec
from tests.test_cli import check_refused, invoke, train_json


@pytest.fixture
def parent(spec_file, runs_dir):
    return Path(train_json(spec_file, runs_dir)["run"])


def prune_json(runs_dir, *args):
    result = invoke("prune", *args, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_prune_writes_a_child_and_leaves_the_parent_byte_identical(parent, runs_dir):
    before = digest(parent)
    summary = prune_json(runs_dir, "--method", "maav", "--sparsity", "0.5")
    assert digest(parent) == before
    child = Path(summary["run"])
    assert child.parent == runs_dir and child != parent and child.name.startswith("tiny-prune-")
    assert {"run", "accuracy_before", "accuracy_after", "layers"} <= summary.keys()
    with h5py.File(child / "model.h5") as f:
        assert f.attrs["phase"] == "prune" and f.attrs["parent"] == str(parent.resolve())
    spec = yaml.safe_load((child / "spec.yaml").read_text())
    assert spec["prune"]["method"] == "maav" and spec["prune"]["sparsity"] == 0.5 and spec["model"]["hidden"] == [24, 16]
    net, _ = runs.load_model(child)
    old, _ = runs.load_model(parent)
    for i, row in enumerate(summary["layers"]):
        m = net.masks[i]
        assert row["nonzero"] == int(m.sum()) and np.all(net.weights[i][~m] == 0)
        if i < 2:
            assert m.size - m.sum() == zeros_for(0.5, m.size)
            # what is left is the parent's weights, untouched
            np.testing.assert_array_equal(net.weights[i][m], old.weights[i][m])
    # the output layer is not pruned by default
    assert net.masks[2].all() and np.array_equal(net.weights[2], old.weights[2])
    assert summary["layers"][2]["sparsity"] == 0
    arrays, attrs = runs.read_metrics(child)
    assert arrays["prune"]["accuracy"].shape == (2,) and arrays["prune"]["sparsity"].shape == (2, 3)
    assert arrays["prune"]["accuracy"][0] == pytest.approx(summary["accuracy_before"])
    assert attrs["prune"]["accuracy_after"] == pytest.approx(summary["accuracy_after"])


def test_count_removes_exactly_that_many_per_layer(parent, runs_dir):
    summary = prune_json(runs_dir, "--method", "magnitude", "--count", "100", "--steps", "3", "--include-output")
    assert [r["nonzero"] for r in summary["layers"]] == [36 * 24 - 100, 24 * 16 - 100, 16 * 10 - 100]
    arrays, _ = runs.read_metrics(Path(summary["run"]))
    np.testing.assert_array_equal(arrays["prune"]["removed"].sum(axis=0), [100, 100, 100])
    np.testing.assert_array_equal(arrays["prune"]["removed"][1:, 0], [33, 33, 34])


def test_layers_option_prunes_only_those(parent, runs_dir):
    summary = prune_json(runs_dir, "--method", "random", "--sparsity", "0.7", "--layers", "1")
    assert [r["pruned"] for r in summary["layers"]] == [False, True, False]
    assert summary["layers"][0]["sparsity"] == 0 and summary["layers"][1]["sparsity"] == pytest.approx(0.7, abs=1e-3)


def test_masks_survive_fine_tuning(parent, runs_dir):
    one_shot = runs.load_model(Path(prune_json(runs_dir, "--sparsity", "0.6", "--scope", "column")["run"]))[0]
    summary = prune_json(runs_dir, "--sparsity", "0.6", "--scope", "column", "--finetune-epochs", "2")
    tuned = runs.load_model(Path(summary["run"]))[0]
    np.testing.assert_array_equal(tuned.masks[0], one_shot.masks[0])  # same scores, same selection
    for w, m, w0 in zip(tuned.weights, tuned.masks, one_shot.weights):
        assert np.all(w[~m] == 0)
        assert not np.array_equal(w[m], w0[m])  # the live weights did train
    np.testing.assert_array_equal((~tuned.masks[0]).sum(axis=0), [zeros_for(0.6, 36)] * 24)


def test_steps_shrink_and_csr(parent, runs_dir):
    summary = prune_json(runs_dir, "--sparsity", "0.9", "--steps", "4", "--shrink", "--format", "csr", "--samples", "50")
    child = Path(summary["run"])
    assert (child / "prune.png").stat().st_size > 1000
    assert runs.layer_formats(child) == ["csr", "csr", "dense"]
    report = summary["shrink"]
    assert report["max_abs_difference"] <= 1e-5
    net, _ = runs.load_model(child)
    assert net.sizes[1:-1] == report["widths_after"] == [r["shrunk_shape"][1] for r in summary["layers"][:2]]
    assert [r["dead_units"] for r in summary["layers"][:2]] == [24 - report["widths_after"][0], 16 - report["widths_after"][1]]
    arrays, _ = runs.read_metrics(child)
    assert arrays["prune"]["widths"].shape == (5, 2) and list(arrays["prune"]["widths"][-1]) == report["widths_after"]
    np.testing.assert_allclose(arrays["prune"]["sparsity"][1:, 0], [0.225, 0.45, 0.675, 0.9], atol=1e-2)
    evaluated = json.loads(invoke("evaluate", child, "--runs-dir", runs_dir, "--json").stdout)
    assert evaluated["formats"] == ["csr", "csr", "dense"]
    assert evaluated["accuracy"] == pytest.approx(summary["accuracy_after"])


def test_spec_prune_section_is_the_default_and_options_win(tmp_path, idx_folder, runs_dir):
    spec = tmp_path / "with-prune.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(idx_folder, prune={"method": "magnitude", "sparsity": 0.3, "steps": 2})))
    train_json(spec, runs_dir)
    from_spec = prune_json(runs_dir)
    assert from_spec["settings"]["method"] == "magnitude" and from_spec["settings"]["steps"] == 2
    assert from_spec["layers"][0]["sparsity"] == pytest.approx(0.3, abs=1e-3)
    # pruning the child again: its spec now records the resolved section; an amount on the command line replaces it
    again = prune_json(runs_dir, "--count", "10", "--method", "maav")
    recorded = yaml.safe_load((Path(again["run"]) / "spec.yaml").read_text())["prune"]
    assert recorded["count"] == 10 and recorded["sparsity"] is None
    assert recorded["method"] == "maav" and recorded["steps"] == 2


def test_human_output_has_the_table(parent, runs_dir):
    result = invoke("prune", "--sparsity", "0.5", "--shrink", "--runs-dir", runs_dir)
    assert result.exit_code == 0, result.stderr
    for text in ("layer", "nonzero", "sparsity", "dead units", "shrunk shape", "before", "after", "run: "):
        assert text in result.stdout


BAD_PRUNE = {
    "unknown method": ["--method", "biggest", "--sparsity", "0.5"],
    "sparsity 1": ["--sparsity", "1.0"],
    "negative sparsity": ["--sparsity", "-0.1"],
    "layer out of range": ["--sparsity", "0.5", "--layers", "3"],
    "bad layer list": ["--sparsity", "0.5", "--layers", "one"],
    "sparsity and count": ["--sparsity", "0.5", "--count", "3"],
    "no amount": [],
    "count too large": ["--count", "5000"],
    "too many samples": ["--sparsity", "0.5", "--samples", "100000"],
    "zero steps": ["--sparsity", "0.5", "--steps", "0"],
    "missing run": ["--sparsity", "0.5", "--run", "nope"],
}


@pytest.mark.parametrize("case", BAD_PRUNE)
def test_bad_prune_input(case, parent, runs_dir):
    before = digest(parent)
    line = check_refused(["prune", *BAD_PRUNE[case], "--runs-dir", runs_dir], runs_dir)
    assert digest(parent) == before
    if case in ("sparsity 1", "layer out of range", "zero steps"):
        assert line.split(":")[1].strip().startswith("--")  # names the option


def test_prune_with_no_runs(tmp_path):
    check_refused(["prune", "--sparsity", "0.5", "--runs-dir", tmp_path / "empty"], tmp_path / "empty")


def test_sweep_script_writes_one_row_per_run(parent, runs_dir, tmp_path):
    import csv
    import os
    import subprocess
    import sys

    out = tmp_path / "sweep.csv"
    env = {**os.environ, "METHODS": "magnitude random", "SPARSITIES": "0.5", "PYTHON": sys.executable,
           "SPARANA": f"{sys.executable} -m sparana_cli"}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(["bash", root / "scripts" / "prune_sweep.sh", parent, out, "--", "--scope", "row"],
                          env=env, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [(r["method"], r["sparsity"], r["scope"]) for r in rows] == [("magnitude", "0.5", "row"), ("random", "0.5", "row")]
    assert all(Path(r["run"]).parent == runs_dir and 0 <= float(r["accuracy_after"]) <= 1 for r in rows)


def test_a_prune_or_shrink_that_deletes_a_whole_layer_is_refused():
    """Every weight of a matrix gone, or (shrink) no path left through a hidden layer: refused, naming the amount."""
    from sparana_cli.engine.network import Network
    from sparana_cli.errors import UserError
    from sparana_cli.phases.prune import _check_nothing_deleted
    from sparana_cli.spec import PruneSpec

    net = Network.xavier([6, 4, 3, 2], seed=0)
    _check_nothing_deleted(PruneSpec(count=5, shrink=True), net)  # the whole network: fine
    net.masks[0][:, 1:] = False  # only unit 0 of hidden layer 1 is fed ...
    net.masks[1][0, :] = False  # ... and it feeds nothing: no path through the layer
    net.apply_masks()
    _check_nothing_deleted(PruneSpec(count=5), net)  # without shrink the network is still whole
    with pytest.raises(UserError, match="--shrink: would remove every unit of hidden layer 1"):
        _check_nothing_deleted(PruneSpec(count=5, shrink=True), net)
    net.masks[2][:] = False
    with pytest.raises(UserError, match="--sparsity 0.9: would remove every weight of layer 2"):
        _check_nothing_deleted(PruneSpec(sparsity=0.9), net)
