"""store/record.py on its own: the RunRecord read from a run folder (finished, unfinished, sweep, damaged)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.engine.network import Network
from sparana_cli.errors import UserError
from sparana_cli.store import runstate
from sparana_cli.store.record import RunRecord, is_run_folder, read_run
from sparana_cli.store.runs import write_metrics, write_network

SPEC = {"name": "tiny", "seed": 3, "data": {"name": "fashion-mnist"}}
MODEL_ATTRS = {"phase": "prune", "parent": "/runs/tiny-20261121-150000", "dataset": "mnist",
               "created": "2026-11-21T15:30:12"}


def write_spec(folder: Path, spec=SPEC) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")


def write_model(folder: Path, attrs=MODEL_ATTRS) -> None:
    """A 2 -> 2 -> 1 network with 1 of its 6 weights masked out."""
    w0 = np.array([[1, 0], [2, 3]], dtype=np.float32)
    w1 = np.array([[1], [1]], dtype=np.float32)
    net = Network([w0, w1], [np.zeros(2, np.float32), np.zeros(1, np.float32)], [w0 != 0, w1 != 0])
    with h5py.File(folder / "model.h5", "w") as f:
        write_network(f, net, attrs)


def finished_run(tmp_path: Path, name="tiny-20261121-153012", *, status=None, model_attrs=MODEL_ATTRS) -> Path:
    folder = tmp_path / name
    write_spec(folder)
    write_model(folder, model_attrs)
    write_metrics(folder / "metrics.h5", {"train": {"loss": [2.0, 1.0]}}, {"train": {"test_accuracy": 0.9}})
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status), encoding="utf-8")
    return folder


def unfinished_run(tmp_path: Path, state="running", **fields) -> Path:
    folder = tmp_path / "tiny-20261121-160344.tmp"
    folder.mkdir()
    runstate.write_status(folder, state, **fields)
    return folder


# RunRecord


def test_a_record_is_named_after_its_folder():
    assert RunRecord(Path("runs/tiny-1"), True, "completed", {}).name == "tiny-1"


@pytest.mark.parametrize("provenance, sweep", [(None, ""), ({}, ""), ({"sweep": None}, ""), ({"sweep": ""}, ""),
                                               ({"sweep": "runs/grid-1"}, "runs/grid-1")])
def test_a_records_sweep_is_the_folder_its_provenance_names(provenance, sweep):
    assert RunRecord(Path("r"), True, "completed", {}, provenance=provenance).sweep == sweep


# is_run_folder


def test_a_folder_with_a_spec_or_a_status_is_a_run_folder(tmp_path):
    write_spec(tmp_path / "a")
    unfinished_run(tmp_path)
    assert is_run_folder(tmp_path / "a")
    assert is_run_folder(tmp_path / "tiny-20261121-160344.tmp")


def test_other_paths_are_not_run_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "odd" / "spec.yaml").mkdir(parents=True)
    (tmp_path / "odd" / "status.json").mkdir()
    assert not is_run_folder(tmp_path / "empty")
    assert not is_run_folder(tmp_path / "file")
    assert not is_run_folder(tmp_path / "odd")
    assert not is_run_folder(tmp_path / "missing")


# unfinished runs: status.json and spec.yaml only


def test_an_unfinished_run_is_read_from_its_status_alone(tmp_path):
    folder = unfinished_run(tmp_path, "failed", message="loss became NaN", phase="train",
                            started="2026-11-21T16:03:44")
    record = read_run(folder)
    assert (record.path, record.finished, record.state) == (folder, False, "failed")
    assert record.status == runstate.read_status(folder)
    assert (record.message, record.phase, record.created) == ("loss became NaN", "train", "2026-11-21T16:03:44")
    assert record.spec is None and record.dataset == "" and record.parent == ""
    assert (record.model, record.formats, record.sparsity, record.arrays, record.attrs) == ({}, [], None, {}, {})
    assert record.provenance is None


def test_an_unfinished_run_whose_writer_is_gone_was_killed(tmp_path):
    record = read_run(unfinished_run(tmp_path, "running"))
    assert record.state == "killed" and record.message == ""


def test_an_unfinished_run_whose_writer_holds_the_lock_is_running(tmp_path):
    folder = unfinished_run(tmp_path, "running")
    handle = runstate.take_lock(folder)
    try:
        assert read_run(folder).state == "running"
    finally:
        handle.close()


def test_an_unfinished_run_without_a_status_has_an_empty_one(tmp_path):
    folder = tmp_path / "x.tmp"
    write_spec(folder)
    record = read_run(folder)
    assert (record.status, record.state, record.phase, record.created) == ({}, "killed", "", "")


def test_a_damaged_status_reads_as_an_empty_one(tmp_path):
    folder = tmp_path / "x.tmp"
    write_spec(folder)
    (folder / "status.json").write_text("{broken", encoding="utf-8")
    record = read_run(folder, strict=True)  # strict is about the run's files, not its status
    assert (record.status, record.state, record.message) == ({}, "killed", "")


def test_an_unfinished_run_takes_its_dataset_from_its_spec(tmp_path):
    folder = unfinished_run(tmp_path)
    write_spec(folder)
    record = read_run(folder)
    assert record.spec == SPEC and record.dataset == "fashion-mnist"


@pytest.mark.parametrize("spec", [{"name": "x"}, {"data": None}, {"data": {"name": None}}, {"data": {}}])
def test_a_spec_without_a_dataset_name_gives_an_empty_dataset(tmp_path, spec):
    folder = unfinished_run(tmp_path)
    write_spec(folder, spec)
    assert read_run(folder).dataset == ""


def test_an_unfinished_run_whose_spec_is_not_a_mapping_has_no_spec(tmp_path):
    folder = unfinished_run(tmp_path)
    write_spec(folder, ["a", "list"])
    record = read_run(folder)
    assert record.spec is None and record.state == "killed"


def test_an_unfinished_run_with_an_unreadable_spec_is_damaged(tmp_path):
    folder = unfinished_run(tmp_path)
    (folder / "spec.yaml").write_bytes(b"name: \xff\n")
    record = read_run(folder)
    assert record.state == "damaged"
    assert record.message.startswith(f"{folder / 'spec.yaml'}: cannot read (UnicodeDecodeError")
    with pytest.raises(UserError, match="cannot read"):
        read_run(folder, strict=True)


def test_an_unfinished_run_records_its_provenance(tmp_path):
    folder = unfinished_run(tmp_path)
    (folder / "provenance.json").write_text(json.dumps({"sweep": "runs/grid-1", "pid": 7}), encoding="utf-8")
    record = read_run(folder)
    assert record.provenance == {"sweep": "runs/grid-1", "pid": 7}
    assert record.sweep == "runs/grid-1"


# sweep folders


def test_a_sweep_folder_is_read_from_its_status_alone(tmp_path):
    folder = tmp_path / "grid-20261121-170000"
    folder.mkdir()
    runstate.write_status(folder, "completed", phase="sweep", started="2026-11-21T17:00:00")
    record = read_run(folder, strict=True)  # no spec.yaml, model.h5 or metrics.h5, and no damage
    assert (record.state, record.phase, record.created, record.spec) == ("completed", "sweep", "2026-11-21T17:00:00",
                                                                         None)
    assert (record.dataset, record.parent, record.model, record.arrays) == ("", "", {}, {})


# finished runs: spec.yaml, model.h5 and metrics.h5 as well


def test_a_finished_run_is_completed_with_its_model_and_metrics(tmp_path):
    folder = finished_run(tmp_path, status={"state": "completed", "phase": "train", "started": "2026-11-21T15:00:00"})
    record = read_run(folder)
    assert (record.finished, record.state, record.message) == (True, "completed", "")
    assert record.spec == SPEC
    assert record.model["n_layers"] == 2 and record.model["phase"] == "prune"
    assert record.formats == ["dense", "dense"]
    assert record.sparsity == pytest.approx(1 / 6)
    assert record.arrays["train"]["loss"].tolist() == [2.0, 1.0]
    assert record.attrs["train"] == {"test_accuracy": 0.9}


def test_model_h5_has_the_last_word_on_phase_parent_dataset_and_created(tmp_path):
    folder = finished_run(tmp_path, status={"state": "completed", "phase": "train", "started": "2026-11-21T15:00:00"})
    record = read_run(folder)
    assert (record.phase, record.parent, record.dataset, record.created) == (
        "prune", "/runs/tiny-20261121-150000", "mnist", "2026-11-21T15:30:12")


def test_without_model_attributes_a_finished_run_falls_back_on_its_status_and_spec(tmp_path):
    folder = finished_run(tmp_path, status={"state": "completed", "phase": "train", "started": "2026-11-21T15:00:00"},
                          model_attrs={})
    record = read_run(folder)
    assert (record.phase, record.parent, record.dataset, record.created) == (
        "train", "", "fashion-mnist", "2026-11-21T15:00:00")


def test_empty_model_attributes_count_as_absent(tmp_path):
    attrs = {"phase": "", "parent": "", "dataset": "", "created": "2026-11-21T15:30:12"}
    folder = finished_run(tmp_path, status={"state": "completed", "phase": "train"}, model_attrs=attrs)
    record = read_run(folder)
    assert (record.phase, record.parent, record.dataset) == ("train", "", "fashion-mnist")


def test_a_finished_run_is_completed_whatever_its_status_says(tmp_path):
    folder = finished_run(tmp_path, status={"state": "failed", "message": "old"})
    record = read_run(folder)
    assert record.state == "completed" and record.message == "old"


def test_a_finished_run_without_a_spec_is_damaged(tmp_path):
    folder = finished_run(tmp_path)
    (folder / "spec.yaml").unlink()
    record = read_run(folder)
    assert (record.state, record.message) == ("damaged", f"{folder / 'spec.yaml'}: file not found")
    assert record.model == {} and record.dataset == ""  # model.h5 is not read once the spec is found damaged
    with pytest.raises(UserError, match="file not found"):
        read_run(folder, strict=True)


def test_a_finished_run_whose_spec_is_not_a_mapping_is_damaged(tmp_path):
    folder = finished_run(tmp_path)
    write_spec(folder, ["a", "list"])
    record = read_run(folder)
    assert (record.state, record.message) == ("damaged", f"{folder / 'spec.yaml'}: expected a mapping of keys")
    assert record.spec is None
    with pytest.raises(UserError) as err:
        read_run(folder, strict=True)
    assert str(err.value) == f"{folder / 'spec.yaml'}: expected a mapping of keys"


def test_a_finished_run_with_a_damaged_model_is_damaged(tmp_path):
    folder = finished_run(tmp_path, status={"state": "completed", "phase": "train"})
    with h5py.File(folder / "model.h5", "a") as f:
        f.attrs["seed"] = "three"
    record = read_run(folder)
    assert (record.state, record.message) == ("damaged",
                                              f"{folder / 'model.h5'}: attribute seed must be an integer, found 'three'")
    assert record.phase == "train"  # what was known before model.h5 was read
    assert record.dataset == "fashion-mnist"
    with pytest.raises(UserError, match="attribute seed must be an integer"):
        read_run(folder, strict=True)


def test_a_finished_run_with_damaged_metrics_is_damaged(tmp_path):
    folder = finished_run(tmp_path)
    write_metrics(folder / "metrics.h5", {"train": {"loss": [[1.0, 2.0]]}})
    record = read_run(folder)
    assert record.state == "damaged"
    assert record.message.endswith("/train/loss must be 1-D, found shape (1, 2)")
    with pytest.raises(UserError, match="must be 1-D"):
        read_run(folder, strict=True)
