"""The `sparana runs` table (store/listing.py) from hand-made records: rows, filters, sorting, sweeps, headline metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sparana_cli.errors import UserError
from sparana_cli.store import listing, runs_index
from sparana_cli.store.record import RunRecord


def rec(name: str, *, finished: bool = True, state: str = "completed", phase: str = "train", created: str = "",
        status: dict | None = None, **fields) -> RunRecord:
    """A record as the runs index or read_run gives it, for a folder runs/<name>."""
    return RunRecord(Path("runs") / name, finished, state, status or {}, phase=phase, created=created, **fields)


def names(rows: list) -> list[str]:
    """The names of rows (dicts) or of records."""
    return [r["name"] if isinstance(r, dict) else r.name for r in rows]


# -- one row ----------------------------------------------------------------------------------------


def test_a_finished_runs_row_holds_its_summary_and_headline_metric():
    record = rec("pruned-1", phase="prune", parent="runs/base-1", dataset="mnist", created="2026-01-02T00:00:00",
                 sparsity=0.9, attrs={"test": {"accuracy": 0.9451}}, spec={"seed": 1}, message="",
                 status={"state": "completed", "epochs": 3, "epoch": 3}, provenance={"sweep": "s-sweep-1"})
    assert listing.row(record) == {
        "run": str(Path("runs/pruned-1")), "name": "pruned-1", "phase": "prune", "parent": "base-1",
        "dataset": "mnist", "metric": "test 94.51%", "test_accuracy": 0.9451, "sparsity": 0.9,
        "created": "2026-01-02T00:00:00", "status": "complete", "state": "completed", "message": "",
        "metrics": {"test": {"accuracy": 0.9451}}, "sweep": "s-sweep-1", "spec": {"seed": 1}}  # no progress: finished


def test_an_unfinished_runs_row_shows_its_progress_and_no_metric():
    record = rec("base-2.tmp", finished=False, state="interrupted", message="stopped",
                 status={"state": "interrupted", "epochs": 5, "epoch": 2})
    row = listing.row(record)
    assert row["progress"] == {"epoch": 2, "step": 0, "epochs": 5}  # no step recorded yet: 0
    assert (row["status"], row["state"], row["message"]) == ("incomplete", "interrupted", "stopped")
    assert (row["metric"], row["test_accuracy"], row["parent"], row["spec"], row["sweep"]) == ("", None, "", {}, "")
    started = listing.row(rec("base-3.tmp", finished=False, state="running", status={"state": "running", "epochs": 5}))
    assert started["progress"] == {"epoch": 0, "step": 0, "epochs": 5}
    stepping = {"state": "running", "epochs": 5, "epoch": 1, "step": 40}
    assert listing.row(rec("base-4.tmp", finished=False, state="running", status=stepping))["progress"] == {
        "epoch": 1, "step": 40, "epochs": 5}


def test_an_unfinished_run_without_epochs_has_no_progress():
    row = listing.row(rec("sweep-1.tmp", finished=False, state="killed", status={"state": "running"}))
    assert "progress" not in row and row["status"] == "incomplete"


def test_a_damaged_runs_row_shows_no_numbers_it_may_have_half_read():
    row = listing.row(rec("base-4", state="damaged", attrs={"test": {"accuracy": 0.5}}, message="model.h5: bad"))
    assert (row["metric"], row["test_accuracy"], row["status"], row["state"]) == ("", None, "complete", "damaged")


def test_the_test_accuracy_column_prefers_the_test_group_then_trainings_test_accuracy():
    both = {"test": {"accuracy": 0.75}, "train": {"test_accuracy": 0.5}}
    assert listing.row(rec("a", attrs=both))["test_accuracy"] == 0.75
    row = listing.row(rec("b", attrs={"train": {"test_accuracy": 0.5}}))
    assert (row["test_accuracy"], row["metric"]) == (0.5, "")  # the headline reads the test group only
    assert listing.row(rec("c", attrs={"test": {"accuracy": float("nan")}}))["test_accuracy"] is None


# -- the headline metric ----------------------------------------------------------------------------


@pytest.mark.parametrize("phase, metrics, shown", [
    ("train", {"test": {"accuracy": 0.9451}}, "test 94.51%"),
    ("prune", {"test": {"accuracy": 0.5}, "prune": {"accuracy": 0.1}}, "test 50.00%"),
    ("forget", {"forget": {"df_accuracy": 0.02, "dr_accuracy": 0.951}, "test": {"accuracy": 0.9}}, "Df 2.00% Dr 95.10%"),
    ("forget", {"forget": {"dr_accuracy": 0.951}}, "Dr 95.10%"),
    ("attack", {"attack": {"clean_accuracy": 0.88}, "test": {"accuracy": 0.9}}, "clean 88.00%"),
    ("forget", {"test": {"accuracy": 0.9}}, "test 90.00%"),  # no Df/Dr: the test accuracy instead
    ("attack", {"test": {"accuracy": 0.9}, "attack": {}}, "test 90.00%"),
    ("train", {}, ""),
    ("forget", {}, ""),
    ("train", {"test": {"accuracy": "high"}}, ""),
    ("forget", {"forget": {"df_accuracy": float("nan")}}, ""),
])
def test_the_headline_metric_of_each_phase(phase, metrics, shown):
    assert listing.key_metric(phase, metrics) == shown


# -- numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "0.5", b"0.5", [0.5], (0.5,), {"a": 0.5}, float("nan"), np.float32("nan"),
                                   np.array([0.5]), np.array([[0.5]]), np.str_("0.5"), 1j, object()])
def test_anything_but_a_scalar_number_is_no_number(value):
    assert listing._number(value) is None


@pytest.mark.parametrize("value, number", [(0.5, 0.5), (1, 1.0), (0, 0.0), (np.float32(0.25), 0.25),
                                           (np.int64(3), 3.0), (np.array(0.75), 0.75), (np.float64(-2.5), -2.5)])
def test_a_scalar_number_is_a_float(value, number):
    got = listing._number(value)
    assert got == number and type(got) is float


def test_a_spec_is_flattened_to_dotted_keys():
    spec = {"model": {"hidden": [24, 16], "act": "relu"}, "train": {"lr": 0.01, "opt": {"name": "sgd"}}, "seed": 1}
    assert listing._flat(spec) == {"model.hidden": [24, 16], "model.act": "relu", "train.lr": 0.01,
                                   "train.opt.name": "sgd", "seed": 1}
    assert listing._flat(None) == {} and listing._flat({}) == {}


# -- filters and sorting --------------------------------------------------------------------------


def spec(hidden, lr, data="mnist", version="1.0"):
    return {"model": {"hidden": hidden}, "train": {"lr": lr}, "data": {"name": data}, "version": version, "notes": None}


@pytest.fixture
def found() -> list[RunRecord]:
    """Records oldest first, as listing.records gives them: runs of two datasets, a child, an unfinished and a damaged
    run, and a sweep folder (never a row)."""
    return [
        rec("a", dataset="mnist", created="1", sparsity=0.0, attrs={"test": {"accuracy": 0.9}},
            spec=spec([24, 16], 0.01)),
        rec("s-sweep", phase="sweep", created="2"),
        rec("b", phase="prune", parent="runs/a", dataset="mnist", created="3", sparsity=0.5,
            attrs={"test": {"accuracy": 0.7}}, spec=spec([24, 16], 0.1)),
        rec("c.tmp", finished=False, state="killed", dataset="fashion", created="4", spec=spec([8], 0.01, "fashion")),
        rec("d", phase="forget", parent="runs/a", dataset="mnist", created="5", state="damaged",
            spec=spec([8], 0.01, version="2.0")),
        rec("e", dataset="fashion", created="6", sparsity=0.25, attrs={"test": {"accuracy": 0.8}},
            spec=spec([24, 16], 0.05, "fashion")),
    ]


def test_without_filters_every_run_is_a_row_in_the_given_order_and_sweeps_are_left_out(found):
    assert names(listing.list_runs(Path("nowhere"), all_records=found)) == ["a", "b", "c.tmp", "d", "e"]


def test_without_records_given_the_runs_folder_is_read(found, monkeypatch):
    asked = []
    monkeypatch.setattr(listing, "records", lambda root: asked.append(root) or found[:2])
    assert names(listing.list_runs(Path("runs"))) == ["a"] and asked == [Path("runs")]
    assert names(listing.list_runs(Path("runs"), all_records=found[2:3])) == ["b"] and len(asked) == 1


@pytest.mark.parametrize("filters, expected", [
    ({"phase": "prune"}, ["b"]),
    ({"phase": "train"}, ["a", "c.tmp", "e"]),
    ({"dataset": "fashion"}, ["c.tmp", "e"]),
    ({"parent": "a"}, ["b", "d"]),
    ({"parent": "elsewhere/a"}, ["b", "d"]),  # a run named by its path: its folder name
    ({"state": "complete"}, ["a", "b", "d", "e"]),
    ({"state": "incomplete"}, ["c.tmp"]),
    ({"state": "completed"}, ["a", "b", "e"]),
    ({"state": "killed"}, ["c.tmp"]),
    ({"state": "damaged"}, ["d"]),
    ({"state": "failed"}, []),
    ({"phase": "train", "dataset": "mnist"}, ["a"]),
    ({"dataset": "mnist", "parent": "a"}, ["b", "d"]),
    ({"phase": "train", "state": "complete"}, ["a", "e"]),
    ({"dataset": "fashion", "where": ["train.lr=0.05"]}, ["e"]),
])
def test_filters_keep_the_runs_that_match_all_of_them(found, filters, expected):
    assert names(listing.list_runs(Path("runs"), all_records=found, **filters)) == expected


@pytest.mark.parametrize("where, expected", [
    (["model.hidden=[24, 16]"], ["a", "b", "e"]),
    (["model.hidden=[24,16]"], ["a", "b", "e"]),  # equal as YAML, though not as text
    (["train.lr=0.01"], ["a", "c.tmp", "d"]),
    (["data.name=fashion"], ["c.tmp", "e"]),
    (["version=2.0"], ["d"]),  # a string that YAML reads as a number: matched as text
    (["model.hidden=[8]", "train.lr=0.01"], ["c.tmp", "d"]),
    (["model.hidden=[8]", "data.name=mnist"], ["d"]),
    (["model.depth=3"], []),  # a key no spec has
    (["model=3"], []),
    (["train.lr=[0.01"], []),  # not YAML: compared as text
    (["notes=[unclosed"], []),  # ... so it matches no null
    (["notes=null"], ["a", "b", "c.tmp", "d", "e"]),
])
def test_where_matches_a_spec_key_against_a_yaml_value(found, where, expected):
    assert names(listing.list_runs(Path("runs"), all_records=found, where=where)) == expected


@pytest.mark.parametrize("item", ["train.lr", "=0.01", " =0.01", ""])
def test_a_where_item_without_a_key_and_a_value_is_refused(found, item):
    with pytest.raises(UserError) as err:
        listing.list_runs(Path("runs"), all_records=found, where=[item])
    assert str(err.value) == (f"--where {item!r}: expected KEY=VALUE, e.g. model.hidden=[300,100] or train.lr=0.01")


def test_an_unknown_state_is_refused_naming_the_states(found):
    with pytest.raises(UserError) as err:
        listing.list_runs(Path("runs"), all_records=found, state="done")
    assert str(err.value) == ("--state done: expected one of complete, incomplete, running, completed, failed, "
                              "interrupted, killed, damaged")


def test_an_unknown_sort_column_is_refused_naming_the_columns(found):
    for sort in ("size", "-size"):
        with pytest.raises(UserError) as err:
            listing.list_runs(Path("runs"), all_records=found, sort=sort)
        assert str(err.value) == (f"--sort {sort}: expected one of created, name, phase, parent, dataset, metric, "
                                  "test_accuracy, sparsity, state (a leading - reverses)")


@pytest.mark.parametrize("sort, expected", [
    ("name", ["a", "b", "c.tmp", "d", "e"]),
    ("-name", ["e", "d", "c.tmp", "b", "a"]),
    ("-created", ["e", "d", "c.tmp", "b", "a"]),
    ("dataset", ["c.tmp", "e", "a", "b", "d"]),  # a stable sort: ties keep their order
    ("-phase", ["a", "c.tmp", "e", "b", "d"]),
    ("state", ["a", "b", "e", "d", "c.tmp"]),
    ("test_accuracy", ["b", "e", "a", "c.tmp", "d"]),  # runs without the value go last
    ("-test_accuracy", ["a", "e", "b", "c.tmp", "d"]),  # last also when reversed
    ("metric", ["b", "e", "a", "c.tmp", "d"]),
    ("parent", ["b", "d", "a", "c.tmp", "e"]),
    ("-sparsity", ["b", "e", "a", "c.tmp", "d"]),  # 0.0 is a value, None is not
])
def test_sorting_by_a_column(found, sort, expected):
    assert names(listing.list_runs(Path("runs"), all_records=found, sort=sort)) == expected


def test_sorting_follows_filtering(found):
    rows = listing.list_runs(Path("runs"), all_records=found, dataset="mnist", sort="-test_accuracy")
    assert names(rows) == ["a", "b", "d"]


# -- sweeps ---------------------------------------------------------------------------------------


def write_sweep_csv(folder: Path, runs: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["point,seed,status,test_accuracy,run,exit_code,message"]
    lines += [f"{k + 1},{k},{'completed' if run else 'pending'},0.9,{run},0," for k, run in enumerate(runs)]
    (folder / "sweep.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_sweeps_runs_are_those_naming_it_then_those_its_csv_lists(tmp_path):
    sweep = RunRecord(tmp_path / "s-sweep-1", True, "completed", {}, phase="sweep", created="5")
    write_sweep_csv(sweep.path, [str(tmp_path / "r2"), "", "elsewhere/r9", "r1"])  # a pending point has no run yet
    found = [sweep, rec("r1", provenance={"sweep": "s-sweep-1"}), rec("r2", provenance={"sweep": "s-sweep-1"}),
             rec("r3", provenance={"sweep": "other-sweep-1"}), rec("r4", provenance=None), rec("r5", provenance={})]
    assert listing.sweep_members(sweep, found) == ["r1", "r2", "r9"]
    assert listing.sweeps(found) == [{"run": str(sweep.path), "name": "s-sweep-1", "created": "5", "state": "completed",
                                      "status": "complete", "runs": ["r1", "r2", "r9"]}]


def test_an_unfinished_sweep_groups_the_runs_that_name_its_finished_name(tmp_path):
    sweep = RunRecord(tmp_path / "s-sweep-1.tmp", False, "running", {}, phase="sweep", created="5")
    found = [rec("r1", provenance={"sweep": "s-sweep-1"}), sweep, rec("r2", provenance={"sweep": "s-sweep-1.tmp"}),
             rec("r3", provenance={"sweep": "s-sweep-2"})]
    assert listing.sweeps(found) == [{"run": str(sweep.path), "name": "s-sweep-1.tmp", "created": "5",
                                      "state": "running", "status": "incomplete", "runs": ["r1", "r2"]}]


def test_a_sweep_without_a_readable_csv_has_only_the_runs_naming_it(tmp_path):
    sweep = RunRecord(tmp_path / "s-sweep-1", True, "completed", {}, phase="sweep")
    assert listing._csv_runs(sweep.path) == []  # no folder, no file
    sweep.path.mkdir()
    (sweep.path / "sweep.csv").write_text("point,seed\n1,1\n", encoding="utf-8")  # no run column
    assert listing.sweep_members(sweep, [rec("r1", provenance={"sweep": "s-sweep-1"})]) == ["r1"]
    (sweep.path / "sweep.csv").write_text("run\n" + "x" * 200_000 + "\n", encoding="utf-8")  # past csv's field limit
    assert listing._csv_runs(sweep.path) == []


def test_a_sweeps_csv_is_read_as_utf8(tmp_path):
    write_sweep_csv(tmp_path / "s", ["runs/réseau-1", "runs/ネット-2"])
    assert listing._csv_runs(tmp_path / "s") == ["réseau-1", "ネット-2"]


# -- the records of a runs folder -----------------------------------------------------------------


def test_records_are_the_indexs_oldest_first_then_by_name(tmp_path, monkeypatch):
    asked = []
    given = [rec("b", created="2"), rec("c", created="1"), rec("a", created="2"), rec("a-0", created="")]

    def index(root, **kwargs):
        asked.append((root, kwargs))
        return given

    monkeypatch.setattr(runs_index, "records", index)
    assert names(listing.records(tmp_path)) == ["a-0", "c", "a", "b"]
    listing.records(tmp_path, specs=False)
    assert asked == [(tmp_path, {"specs": True}), (tmp_path, {"specs": False})]


def test_a_missing_runs_folder_has_no_records_and_a_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_index, "records", lambda root, **kwargs: pytest.fail("the index was asked"))
    assert listing.records(tmp_path / "none") == []
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError) as err:
        listing.records(tmp_path / "file")
    assert str(err.value) == f"{tmp_path / 'file'}: not a folder"


def test_records_of_real_sweep_folders(tmp_path):
    for name, started in (("b-sweep", "2026-01-02T00:00:00"), ("a-sweep", "2026-01-03T00:00:00"),
                          ("c-sweep", "2026-01-01T00:00:00")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "status.json").write_text(json.dumps({"state": "completed", "phase": "sweep",
                                                                 "started": started}))
    got = listing.records(tmp_path)
    assert names(got) == ["c-sweep", "b-sweep", "a-sweep"] and {r.phase for r in got} == {"sweep"}
    assert listing.list_runs(tmp_path) == [] and [s["name"] for s in listing.sweeps(got)] == names(got)
