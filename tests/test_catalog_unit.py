"""store/catalog.py called directly, on run folders written without training (a tiny untrained network, metrics
given by hand): metric tables, compare and diff, lineage, what `runs rm` would remove and how it removes, and the
attack runs shown beside one another."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.store import catalog, provenance, runs, runs_index, runstate
from sparana_cli.store.record import RunRecord, read_run

NET = Network.xavier([4, 3, 2], seed=1)


def finished(root: Path, name: str, *, phase="train", parent: Path | str = "", created="2024-01-01T00:00:00",
             dataset="mnist", spec: dict | None = None, arrays=None, attrs=None, sweep: str = "") -> Path:
    """A finished run folder as a phase writes it: spec.yaml, model.h5 (its root attributes), metrics.h5."""
    with runs.new_run(root, name, phase=phase) as run:
        (run.tmp / "spec.yaml").write_text(yaml.safe_dump(spec or {"name": name, "data": {"name": dataset}}))
        runs.save_model(run.tmp / runs.MODEL_FILE, NET, {"phase": phase, "parent": str(parent), "dataset": dataset,
                                                         "created": created})
        runs.write_metrics(run.tmp / runs.METRICS_FILE, arrays or {}, attrs or {})
        if sweep:
            provenance.note(run.tmp, sweep=sweep)
    return run.path


def unfinished(root: Path, name: str, state: str | None = None) -> Path:
    """A .tmp folder whose process is gone: killed (no state written), or interrupted / failed."""
    run = runs.reserve_run(root, name, phase="train")
    if state:
        runstate.write_status(run.tmp, state)
    run.release()
    return run.tmp


def record(name: str, parent: str = "", **fields) -> RunRecord:
    return RunRecord(Path("/runs") / name, True, "completed", {}, parent=parent, **fields)


# -- metric names and values ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["test.accuracy", "train.val_accuracy (last)", "test.per_class_accuracy[7]",
                                  "forget.df_accuracy", "forget/judge.df[ssd]", "forget.dr_acc (last)", "model.sparsity",
                                  "attack.recall", "judge.mia", "judge.mia (last)", "forget.fraction_kept",
                                  "forget.my_df_gap", "test.per_class_accuracy[a.b]"])
def test_shares_of_0_to_1_are_told_by_their_leaf_name(name):
    assert catalog.is_share(name)


@pytest.mark.parametrize("name", ["train.loss (last)", "forget.weights_removed (last)", "judge.mia_auc", "x.dfa",
                                  "x.odf", "accuracy.loss", "attack.eps[0.1]", "train.seconds"])
def test_other_metrics_are_not_shares(name):
    assert not catalog.is_share(name)


@pytest.mark.parametrize("name, share", [("test_accuracy", True), ("sparsity", True), ("df", True), ("mia", True),
                                         ("loss", False), ("seconds", False), ("eps", False)])
def test_a_sweep_column_without_a_group_is_told_the_same_way(name, share):
    """A sweep's summary columns (test_accuracy, sparsity, ...) name no metrics group."""
    assert catalog.is_share(name) is share


def test_metric_text_shows_a_share_in_percent_and_the_rest_as_it_is():
    assert catalog.metric_text("test.accuracy", 0.946) == "94.60%"
    assert catalog.metric_text("test.accuracy", np.float32(0.5)) == "50.00%"
    assert catalog.metric_text("forget.df[ssd]", 1) == "100.00%"
    assert catalog.metric_text("train.loss (last)", 0.25) == 0.25
    assert catalog.metric_text("test.accuracy", None) == ""
    assert catalog.metric_text("test.accuracy", "n/a") == "n/a"
    assert catalog.metric_text("test.accuracy", True) is True  # a flag, not a share
    assert catalog.metric_text("test.accuracy", np.bool_(False)) == np.bool_(False)


def _table(arrays=None, attrs=None, sparsity=0.25) -> dict:
    return catalog.metric_table(RunRecord(Path("/runs/r"), True, "completed", {}, arrays=arrays or {},
                                          attrs=attrs or {}, sparsity=sparsity))


def test_metric_table_takes_the_numbers_of_the_summaries():
    table = _table(attrs={"test": {"accuracy": np.float64(0.9), "n": 3, "done": True, "label": "x", "gap": math.nan},
                          "prune": {"layers": np.array([0, 1]), "count": np.int64(4)}})
    assert table == {"test.accuracy": 0.9, "test.n": 3, "test.done": True, "prune.count": 4.0, "model.sparsity": 0.25}
    assert type(table["test.n"]) is int and type(table["test.accuracy"]) is float


def test_metric_table_takes_the_last_value_of_a_curve_and_every_class():
    table = _table(arrays={"train": {"loss": np.array([3.0, 2.0, 1.5]), "steps": np.array([10, 20], dtype=np.int64)},
                           "test": {"per_class_accuracy": np.array([0.5, 0.75]), "confusion": np.eye(2),
                                    "none": np.array([]), "names": np.array(["a", "b"])}})
    assert table == {"test.per_class_accuracy[0]": 0.5, "test.per_class_accuracy[1]": 0.75,
                     "train.loss (last)": 1.5, "train.steps (last)": 20.0, "model.sparsity": 0.25}
    assert list(table) == sorted(table, key=lambda k: (k == "model.sparsity", k))  # groups in order, sparsity last


def test_metric_table_gives_a_comparison_table_one_row_per_method():
    table = _table(arrays={"forget/judge": {"method": np.array([b"ssd", b"maav"]), "df": np.array([0.125, 0.25])},
                           "other": {"method": np.array(["a", "b", "c"]), "score": np.array([1.0, 2.0])}},
                   sparsity=None)
    assert table == {"forget/judge.df[ssd]": 0.125, "forget/judge.df[maav]": 0.25,
                     "other.score (last)": 2.0,  # not one value per method: a curve
                     "model.sparsity": None}


def test_compare_puts_each_runs_metrics_side_by_side(tmp_path):
    a = finished(tmp_path, "a", attrs={"test": {"accuracy": 0.875}}, arrays={"train": {"loss": [3.0, 2.0]}})
    b = finished(tmp_path, "b", attrs={"test": {"accuracy": 0.5}, "forget": {"df_accuracy": 0.25}})
    assert catalog.compare([a, b]) == {"test.accuracy": [0.875, 0.5], "train.loss (last)": [2.0, None],
                                       "model.sparsity": [0.0, 0.0], "forget.df_accuracy": [None, 0.25]}
    assert list(catalog.compare([b, a])) == ["forget.df_accuracy", "test.accuracy", "model.sparsity",
                                             "train.loss (last)"]


def test_compare_and_diff_refuse_a_damaged_run(tmp_path):
    a = finished(tmp_path, "a")
    b = finished(tmp_path, "b")
    (b / "model.h5").write_bytes(b"not hdf5")
    for call in (lambda: catalog.compare([a, b]), lambda: catalog.diff_specs(a, b)):
        with pytest.raises(UserError, match="model.h5: not a readable HDF5 file"):
            call()


def test_diff_specs_names_each_key_that_differs(tmp_path):
    a = finished(tmp_path, "a", spec={"name": "t", "model": {"hidden": [24, 16]}, "train": {"lr": 0.01, "seed": 1}})
    b = finished(tmp_path, "b", spec={"name": "t", "model": {"hidden": [8]}, "train": {"lr": 0.01, "epochs": 2}})
    differences = catalog.diff_specs(a, b)
    assert differences == {"model.hidden": ([24, 16], [8]), "train.seed": (1, catalog.ABSENT),
                           "train.epochs": (catalog.ABSENT, 2)}
    assert list(differences) == ["model.hidden", "train.seed", "train.epochs"]  # a's keys first, then b's
    assert catalog.diff_specs(a, a) == {}


def test_diff_specs_tells_a_key_set_to_null_from_a_key_left_out(tmp_path):
    """A spec resolved by a sparana that knew a key (null: not used) against one written before the key existed."""
    a = finished(tmp_path, "a", spec={"name": "t", "train": {"lr": 0.01, "scheduler": None}})
    b = finished(tmp_path, "b", spec={"name": "t", "train": {"lr": 0.01}})
    assert catalog.diff_specs(a, b) == {"train.scheduler": (None, catalog.ABSENT)}
    from click.testing import CliRunner

    from sparana_cli.cli import main

    shown = CliRunner().invoke(main, ["runs", "diff", str(a), str(b), "--runs-dir", str(tmp_path)])
    assert shown.exit_code == 0 and shown.output.splitlines()[-1].split() == ["train.scheduler", "null", "(absent)"]
    as_json = CliRunner().invoke(main, ["runs", "diff", str(a), str(b), "--runs-dir", str(tmp_path), "--json"])
    assert json.loads(as_json.output)["differences"] == {"train.scheduler": [None, None]}  # JSON has no "absent"


# -- lineage ----------------------------------------------------------------------------------------


def test_parent_record_reads_the_parent_where_it_is_recorded(tmp_path):
    parent = finished(tmp_path / "runs", "p")
    child = read_run(finished(tmp_path / "runs", "c", phase="prune", parent=parent))
    assert catalog.parent_record(child).path == parent
    assert catalog.parent_record(read_run(parent)) is None  # a training run has none


def test_parent_record_finds_a_moved_parent_beside_its_child(tmp_path):
    parent = finished(tmp_path / "old", "p")
    child = finished(tmp_path / "old", "c", phase="prune", parent=parent)
    shutil.move(tmp_path / "old", tmp_path / "new")
    found = catalog.parent_record(read_run(tmp_path / "new" / child.name))
    assert found.path == tmp_path / "new" / parent.name and found.state == "completed"


def test_parent_record_of_a_parent_gone_or_damaged_is_none(tmp_path):
    parent = finished(tmp_path, "p")
    child = read_run(finished(tmp_path, "c", phase="prune", parent=parent))
    (parent / "metrics.h5").write_bytes(b"")
    assert catalog.parent_record(child) is None
    shutil.rmtree(parent)
    assert catalog.parent_record(child) is None


def test_lineage_walks_up_to_the_first_run_and_down_to_every_descendant(tmp_path):
    a = finished(tmp_path, "a")
    b = finished(tmp_path, "b", phase="prune", parent=a)
    c = finished(tmp_path, "c", phase="forget", parent=b)
    everything = [read_run(p) for p in (a, b, c)]
    assert catalog.lineage(everything[2], everything) == {"ancestors": [b.name, a.name], "descendants": []}
    assert catalog.lineage(everything[0], everything) == {"ancestors": [], "descendants": [b.name, c.name]}


def test_lineage_of_runs_that_name_each_other_ends(tmp_path):
    """Hand-edited parents that make a loop: each run is named once."""
    a = finished(tmp_path, "a")
    b = finished(tmp_path, "b", phase="prune", parent=a)
    with h5py.File(a / runs.MODEL_FILE, "r+") as f:
        f.attrs["parent"] = str(b)
    assert catalog.lineage(read_run(b), [])["ancestors"] == [a.name]  # a's parent is b itself: the walk stops


def test_descendants_children_first_by_parent_name_wherever_it_was():
    a = record("a")
    b, c = record("b", parent="/elsewhere/a"), record("c", parent="/runs/a")
    d = record("d", parent="/runs/b")
    other = record("e", parent="/runs/x")
    assert catalog.descendants(a, [d, other, c, b, a]) == [c, b, d]
    assert catalog.descendants(d, [a, b, c, d]) == []


def test_descendants_of_runs_that_name_each_other_are_listed_once():
    x, y = record("x", parent="y"), record("y", parent="x")
    assert catalog.descendants(x, [x, y]) == [y, x]


# -- removing ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A train run with a child and a grandchild, an unrelated run, a killed, an interrupted and a running run,
    and a sweep folder (finished) with two runs, plus an unfinished sweep folder."""
    root = tmp_path_factory.mktemp("store") / "runs"
    s = {"root": root}
    s["a"] = finished(root, "a", created="2024-01-01T00:00:01")
    s["b"] = finished(root, "b", phase="prune", parent=s["a"], created="2024-01-01T00:00:02")
    s["c"] = finished(root, "c", phase="forget", parent=s["b"], created="2024-01-01T00:00:03")
    s["d"] = finished(root, "d", created="2024-01-01T00:00:04")
    s["killed"] = unfinished(root, "killed")
    s["interrupted"] = unfinished(root, "interrupted", runstate.INTERRUPTED)
    live = runs.reserve_run(root, "live", phase="train")
    s["live"] = live.tmp
    sweep = runs.reserve_run(root, "sw", phase="sweep")
    runs.finish_run(sweep)
    s["sweep"] = sweep.path
    s["m1"] = finished(root, "m1", created="2024-01-01T00:00:05", sweep=sweep.path.name)
    s["m2"] = finished(root, "m2", created="2024-01-01T00:00:06", sweep=sweep.path.name)
    broken_sweep = runs.reserve_run(root, "sw2", phase="sweep")
    broken_sweep.release()
    s["sweep2"] = broken_sweep.tmp
    yield s
    live.release()


def _names(plan: list[RunRecord]) -> list[str]:
    return [r.path.name for r in plan]


def test_removal_plan_of_a_run_without_children_is_that_run(store):
    assert _names(catalog.removal_plan(store["root"], [store["d"].name], recursive=False, incomplete=False)) == [
        store["d"].name]
    by_path = catalog.removal_plan(store["root"], [str(store["d"])], recursive=True, incomplete=False)
    assert _names(by_path) == [store["d"].name] and by_path[0].state == "completed"


def test_removal_plan_refuses_a_parent_without_recursive(store):
    with pytest.raises(UserError) as info:
        catalog.removal_plan(store["root"], [store["a"].name], recursive=False, incomplete=False)
    assert str(info.value) == (f"{store['a'].name}: has 2 child run(s) ({store['b'].name}, {store['c'].name}); "
                               "remove them too with --recursive")


def test_removal_plan_names_the_first_three_children_of_many(tmp_path):
    root = tmp_path / "runs"
    parent = finished(root, "p", created="2024-01-01T00:00:00")
    kids = [finished(root, f"k{i}", phase="prune", parent=parent, created=f"2024-01-01T00:00:0{i + 1}")
            for i in range(4)]
    with pytest.raises(UserError) as info:
        catalog.removal_plan(root, [parent.name], recursive=False, incomplete=False)
    assert str(info.value) == (f"{parent.name}: has 4 child run(s) ({kids[0].name}, {kids[1].name}, {kids[2].name}, "
                               "...); remove them too with --recursive")
    shutil.rmtree(kids[3])
    with pytest.raises(UserError) as info:  # three: all named, nothing left out
        catalog.removal_plan(root, [parent.name], recursive=False, incomplete=False)
    assert str(info.value) == (f"{parent.name}: has 3 child run(s) ({kids[0].name}, {kids[1].name}, {kids[2].name}); "
                               "remove them too with --recursive")


def test_removal_plan_takes_a_run_named_by_its_path_outside_the_runs_folder(store, tmp_path):
    elsewhere = finished(tmp_path / "elsewhere", "x")
    plan = catalog.removal_plan(store["root"], [str(elsewhere)], recursive=False, incomplete=False)
    assert [r.path for r in plan] == [elsewhere] and plan[0].state == "completed"


def test_removal_plan_recursive_takes_the_descendants_once(store):
    plan = catalog.removal_plan(store["root"], [store["a"].name, store["b"].name], recursive=True, incomplete=False)
    assert _names(plan) == [store["a"].name, store["b"].name, store["c"].name]


def test_removal_plan_of_a_sweep_takes_its_runs_only_when_recursive(store):
    root, sweep = store["root"], store["sweep"].name
    assert _names(catalog.removal_plan(root, [sweep], recursive=False, incomplete=False)) == [sweep]
    assert _names(catalog.removal_plan(root, [sweep], recursive=True, incomplete=False)) == [
        sweep, store["m1"].name, store["m2"].name]


def test_removal_plan_incomplete_takes_every_unfinished_run_whose_process_is_gone(store):
    plan = catalog.removal_plan(store["root"], [], recursive=False, incomplete=True)
    assert sorted(_names(plan)) == sorted([store["killed"].name, store["interrupted"].name])
    plan = catalog.removal_plan(store["root"], [store["d"].name], recursive=False, incomplete=True)
    assert _names(plan)[0] == store["d"].name and len(plan) == 3


def test_removal_plan_refuses_a_running_run(store):
    with pytest.raises(UserError) as info:
        catalog.removal_plan(store["root"], [store["live"].name], recursive=False, incomplete=False)
    assert str(info.value) == f"{store['live'].name}: still running; stop it first (Ctrl-C or kill -TERM)"


def test_removal_plan_refuses_a_run_in_a_read_only_folder(store, monkeypatch):
    """Root writes anywhere: the folder is read-only as os.access tells it, for the one path it denies."""
    real = os.access

    def access(path, mode):
        return not (Path(path) == store["d"] and mode & os.W_OK) and real(path, mode)

    monkeypatch.setattr(catalog.os, "access", access)
    with pytest.raises(UserError) as info:
        catalog.removal_plan(store["root"], [store["b"].name, store["d"].name], recursive=True, incomplete=False)
    assert str(info.value) == f"{store['d']}: read-only, so {store['d'].name} cannot be removed; nothing was removed"

    def no_entry(path, mode):  # a runs folder that can be written but not entered
        return not (Path(path) == store["root"] and mode & os.X_OK) and real(path, mode)

    monkeypatch.setattr(catalog.os, "access", no_entry)
    with pytest.raises(UserError, match=f"^{store['root']}: read-only, so {store['d'].name} cannot be removed"):
        catalog.removal_plan(store["root"], [store["d"].name], recursive=False, incomplete=False)


def test_locate_by_name_in_the_runs_folder_or_by_path(store, tmp_path, monkeypatch):
    root, d = store["root"], store["d"]
    assert catalog.locate(root, d.name) == root / d.name
    assert catalog.locate(tmp_path, str(d)) == d
    monkeypatch.chdir(root.parent)
    assert catalog.locate(tmp_path, f"runs/{d.name}") == Path(f"runs/{d.name}")
    assert catalog.locate(root, store["killed"].name) == store["killed"]  # unfinished: status.json only


def test_locate_refuses_a_folder_that_is_no_run(store, tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(UserError) as info:
        catalog.locate(tmp_path, "photos")
    assert str(info.value) == f"{tmp_path / 'photos'}: not a run folder (no spec.yaml or status.json)"


def test_locate_of_a_missing_name_or_a_link_says_where_it_looked(store, tmp_path):
    (tmp_path / "link").symlink_to(store["d"], target_is_directory=True)
    for name in ("nothing", "link"):
        with pytest.raises(UserError) as info:
            catalog.locate(tmp_path, name)
        assert str(info.value) == f"run {name}: no such folder (looked in . and {tmp_path})"


def _indexed(root: Path) -> set[str]:
    return set(runs_index._load(root / runs_index.INDEX_FILE)[0])


def test_remove_deletes_children_first_and_forgets_them_in_the_index(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    a = finished(root, "a")
    b = finished(root, "b", phase="prune", parent=a)
    keep = finished(root, "keep")
    plan = catalog.removal_plan(root, [a.name], recursive=True, incomplete=False)
    assert _indexed(root) == {a.name, b.name, keep.name}
    order, rmtree = [], shutil.rmtree
    monkeypatch.setattr(catalog.shutil, "rmtree", lambda path: order.append(Path(path).name) or rmtree(path))
    catalog.remove(plan)
    assert order == [b.name, a.name]
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [keep.name]
    assert _indexed(root) == {keep.name}


def test_remove_that_fails_says_how_far_it_got(tmp_path, monkeypatch):
    plan = [record("a"), record("b", parent="a"), record("c", parent="b")]
    done = []

    def rmtree(path):
        if len(done) == 2:
            raise PermissionError(13, "Permission denied", str(path / "model.h5"))
        done.append(path)

    monkeypatch.setattr(catalog.shutil, "rmtree", rmtree)
    with pytest.raises(UserError) as info:
        catalog.remove(plan)
    assert str(info.value) == "/runs/a/model.h5: cannot remove (Permission denied); removed 2 of 3 folders before it"

    monkeypatch.setattr(catalog.shutil, "rmtree", lambda path: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(UserError) as info:
        catalog.remove(plan)
    assert str(info.value) == "/runs/c: cannot remove (disk gone); removed 0 of 3 folders before it"


# -- attacks side by side -------------------------------------------------------------------------------

EPS = [0.0, 0.1, 0.2]


def attack(root: Path, name: str, created: str, *, loss="quadratic", method="fgsm", attack_loss="ce", eps=EPS,
           dataset="mnist") -> Path:
    return finished(root, name, phase="attack", created=created, dataset=dataset,
                    arrays={"attack": {"eps": np.array(eps), "accuracy": np.array([0.9, 0.5, 0.2])}},
                    attrs={"attack": {"loss": loss, "method": method, "attack_loss": attack_loss,
                                      "clean_accuracy": 0.9}})


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks") / "runs"
    made = {"root": root}
    made["mine"] = attack(root, "mine", "2024-01-01T00:00:01")
    made["old_sce"] = attack(root, "old-sce", "2024-01-01T00:00:02", loss="cross_entropy")
    made["new_sce"] = attack(root, "new-sce", "2024-01-01T00:00:03", loss="cross_entropy")
    unlike = [{"method": "pgd"}, {"attack_loss": "cw"}, {"eps": [0.0, 0.3, 0.6]}, {"dataset": "fashion-mnist"}]
    for k, change in enumerate(unlike):  # the other loss, newer, but another attack or another data set
        made[f"unlike{k}"] = attack(root, f"unlike{k}", f"2024-01-01T00:01:0{k}", **{"loss": "cross_entropy", **change})
    made["newer_lq"] = attack(root, "newer-lq", "2024-01-01T00:01:09")  # the same loss as mine: never beside it
    made["train"] = finished(root, "trained", created="2024-01-01T00:02:00", attrs={"attack": {"loss": "cross_entropy"}})
    return made


def test_attack_series_adds_the_newest_like_attack_on_the_other_loss(attacks):
    mine = read_run(attacks["mine"])
    series = catalog.attack_series(mine, attacks["root"])
    assert list(series) == ["LQ model, fgsm", f"SCE model, fgsm ({attacks['new_sce'].name})"]
    arrays, settings = series[f"SCE model, fgsm ({attacks['new_sce'].name})"]
    np.testing.assert_array_equal(arrays["eps"], EPS)
    assert settings["loss"] == "cross_entropy"
    assert series["LQ model, fgsm"][1] == mine.attrs["attack"]
    np.testing.assert_array_equal(series["LQ model, fgsm"][0]["accuracy"], [0.9, 0.5, 0.2])  # the run's own curves


def test_attack_series_leaves_out_attacks_of_another_kind(attacks, monkeypatch):
    """Without the two like SCE runs only unlike ones remain: nothing to put beside the run."""
    mine = read_run(attacks["mine"])
    like = (attacks["old_sce"].name, attacks["new_sce"].name)
    rest = [r for r in catalog.records(attacks["root"]) if r.name not in like]
    monkeypatch.setattr(catalog, "records", lambda root: rest)
    assert list(catalog.attack_series(mine, attacks["root"])) == ["LQ model, fgsm"]


def test_attack_series_of_an_sce_run_finds_the_newest_lq_one(attacks):
    theirs = read_run(attacks["old_sce"])
    assert list(catalog.attack_series(theirs, attacks["root"])) == ["SCE model, fgsm",
                                                                    f"LQ model, fgsm ({attacks['newer_lq'].name})"]
