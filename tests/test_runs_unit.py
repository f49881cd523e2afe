"""store/runs.py's run folders function by function: reserving, finishing, reopening and finding them (small folders,
no training); the model.h5 / metrics.h5 layout it writes and reads back is in test_runs_model_unit.py."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
from datetime import datetime

import h5py
import pytest

from sparana_cli.errors import RunFailed
from sparana_cli.store import provenance, runs, runstate
from tests.conftest import refused

NOW = datetime(2026, 11, 21, 15, 30, 12)
STAMP = "20261121-153012"
NAME_RULE = "use at most 150 letters, digits, '.', '_' and '-', starting with a letter or digit"


def status_of(folder) -> dict:
    return json.loads((folder / runstate.STATUS_FILE).read_text())


# -- reserve_run ------------------------------------------------------------------------------


def test_a_reserved_run_is_a_locked_tmp_folder_whose_status_says_running(tmp_path):
    root = tmp_path / "deep" / "runs"  # made, parents included
    run = runs.reserve_run(root, "x", NOW, phase="prune")
    assert run.path == root / f"x-{STAMP}" and run.tmp == root / f"x-{STAMP}.tmp"
    assert sorted(p.name for p in run.tmp.iterdir()) == ["lock", "provenance.json", "status.json"]
    status = status_of(run.tmp)
    assert status["state"] == "running" and status["phase"] == "prune" and status["pid"] == os.getpid()
    assert runstate.is_locked(run.tmp)
    run.release()
    assert not runstate.is_locked(run.tmp)


def test_a_run_reserved_without_a_phase_records_an_empty_phase(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    assert status_of(run.tmp)["phase"] == ""
    run.release()


def test_reserving_takes_the_current_time_when_none_is_given(tmp_path):
    before = datetime.now().replace(microsecond=0)
    run = runs.reserve_run(tmp_path, "x")
    after = datetime.now()
    stamp = datetime.strptime(run.path.name.removeprefix("x-"), "%Y%m%d-%H%M%S")
    assert before <= stamp <= after
    run.release()


def test_a_run_name_of_150_characters_is_taken_and_one_of_151_refused(tmp_path):
    run = runs.reserve_run(tmp_path, "a" * 150, NOW)
    assert run.path.name == "a" * 150 + f"-{STAMP}"
    run.release()
    long = "a" * 151
    assert refused(runs.reserve_run, tmp_path, long, NOW) == f"run name {long[:40]!r}... is not allowed: {NAME_RULE}"


@pytest.mark.parametrize("name, shown", [
    ("a" * 39 + "/", "'" + "a" * 39 + "/'"),  # 40 characters: shown whole
    ("d/" + "e" * 39, "'d/" + "e" * 38 + "'..."),  # 41: its first 40, then an ellipsis
    ("b/" + "c" * 49, "'b/" + "c" * 38 + "'..."),
    (".hidden", "'.hidden'"),
    ("", "''"),
])
def test_a_run_name_that_is_not_allowed_is_refused_showing_at_most_40_characters(tmp_path, name, shown):
    assert refused(runs.reserve_run, tmp_path, name, NOW) == f"run name {shown} is not allowed: {NAME_RULE}"
    assert list(tmp_path.iterdir()) == []


def test_a_runs_folder_that_cannot_be_made_is_refused_with_the_system_reason(tmp_path):
    root = tmp_path / "runs"
    root.write_text("a file, not a folder")
    assert refused(runs.reserve_run, root, "x", NOW) == f"{root}: cannot create the runs folder (File exists)"


def test_a_run_folder_that_cannot_be_made_is_refused_with_the_system_reason(tmp_path, monkeypatch):
    real_mkdir = os.mkdir

    def no_run_folders(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", no_run_folders)
    assert refused(runs.reserve_run, tmp_path, "x", NOW) == f"{tmp_path}: cannot create a run folder there (Permission denied)"


def test_a_name_finished_by_another_process_between_the_checks_is_given_up_for_the_next(tmp_path, monkeypatch):
    real_mkdir = os.mkdir
    made = []

    def mkdir_then_another_finishes(path, *args, **kwargs):
        real_mkdir(path, *args, **kwargs)
        if str(path).endswith(".tmp") and not made:
            made.append(path)
            real_mkdir(str(path).removesuffix(".tmp"))  # the other process renamed its .tmp folder just now

    monkeypatch.setattr(os, "mkdir", mkdir_then_another_finishes)
    run = runs.reserve_run(tmp_path, "x", NOW)
    assert run.path.name == f"x-{STAMP}-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"x-{STAMP}", f"x-{STAMP}-2.tmp"]  # ours removed
    run.release()


def test_every_name_of_a_second_taken_is_a_user_error_not_an_overwrite(tmp_path):
    (tmp_path / f"x-{STAMP}").mkdir()
    for k in range(2, 10_000):
        (tmp_path / f"x-{STAMP}-{k}").mkdir()
    assert refused(runs.reserve_run, tmp_path, "x", NOW) == f"{tmp_path}: no free run name for x-{STAMP}"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, "No space left on device"), "[Errno 28] No space left on device"),
    (RunFailed("disk full"), "disk full"),
])
def test_a_status_that_cannot_be_written_leaves_no_folder_and_is_a_user_error(tmp_path, monkeypatch, error, reason):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(runstate, "write_status", fail)
    assert refused(runs.reserve_run, tmp_path, "x", NOW) == f"{tmp_path}: cannot write a run folder there ({reason})"
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_while_reserving_leaves_no_folder_and_propagates(tmp_path, monkeypatch):
    def interrupted(folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(provenance, "start", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runs.reserve_run(tmp_path, "x", NOW)
    assert list(tmp_path.iterdir()) == []


# -- PendingRun, new_run, finish_run ----------------------------------------------------------


def test_a_pending_run_is_its_two_paths_and_releasing_it_closes_its_lock(tmp_path):
    with open(tmp_path / "lock", "a") as lock:
        held = runs.PendingRun(tmp_path / "a.tmp", tmp_path / "a", lock)
        assert held == runs.PendingRun(tmp_path / "a.tmp", tmp_path / "a")  # the lock is no part of its identity
        assert "lock" not in repr(held)
        held.release()
        assert lock.closed
    runs.PendingRun(tmp_path / "a.tmp", tmp_path / "a").release()  # no lock: nothing to do


def test_a_pending_runs_folders_cannot_be_changed_once_reserved(tmp_path):
    run = runs.PendingRun(tmp_path / "a.tmp", tmp_path / "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.path = tmp_path / "elsewhere"
    assert {run, runs.PendingRun(tmp_path / "a.tmp", tmp_path / "a")} == {run}  # frozen: usable as a key


def test_a_finished_run_says_completed_keeps_its_phase_and_loses_its_lock(tmp_path):
    with runs.new_run(tmp_path, "x", phase="train") as run:
        assert status_of(run.tmp)["phase"] == "train"
    status = status_of(run.path)
    assert status["state"] == "completed" and status["phase"] == "train" and "ended" in status
    assert not (run.path / "lock").exists() and run.lock.closed
    record = json.loads((run.path / "provenance.json").read_text())
    assert record["ended"] is not None and record["device"] is None and "data" not in record  # no model.h5


def test_an_error_inside_a_new_run_propagates_even_when_its_folder_is_already_gone(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with runs.new_run(tmp_path, "x") as run:
            run.tmp.rename(tmp_path / "moved")  # whatever the caller did with it, its own error is what counts
            raise RuntimeError("boom")
    assert run.lock.closed


def test_a_new_run_without_a_phase_records_an_empty_phase(tmp_path):
    with runs.new_run(tmp_path, "x") as run:
        pass
    assert status_of(run.path)["phase"] == ""


def test_finish_run_adds_the_fields_it_is_given_to_the_status(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    runs.finish_run(run, epochs=3, message="stopped early")
    status = status_of(run.path)
    assert status["epochs"] == 3 and status["message"] == "stopped early" and status["state"] == "completed"


def test_finishing_over_an_existing_folder_is_refused_and_keeps_the_run_in_its_tmp_folder(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    run.path.mkdir()
    assert refused(runs.finish_run, run) == f"{run.path}: already exists; the finished run stays in {run.tmp}"
    assert status_of(run.tmp)["state"] == "completed" and list(run.path.iterdir()) == []
    assert run.lock.closed


def test_a_run_whose_lock_file_was_removed_still_finishes(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    (run.tmp / "lock").unlink()
    runs.finish_run(run)
    assert run.path.is_dir() and not run.tmp.exists()


def test_record_session_adds_a_session_to_the_provenance(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    runs.record_session(run)
    runs.record_session(run)
    sessions = json.loads((run.tmp / "provenance.json").read_text())["sessions"]
    assert [s["pid"] for s in sessions] == [os.getpid(), os.getpid()]
    run.release()


# -- _made_from: what model.h5 adds to provenance.json at the end -----------------------------


def model_with_attrs(folder, **attrs):
    with h5py.File(folder / runs.MODEL_FILE, "w") as f:
        f.attrs.update(attrs)


def test_made_from_is_empty_without_a_model_or_with_a_damaged_one(tmp_path):
    assert runs._made_from(tmp_path) == {}
    (tmp_path / runs.MODEL_FILE).write_bytes(b"not hdf5" * 20)
    assert runs._made_from(tmp_path) == {}


def test_made_from_prefers_the_device_name_and_names_the_data(tmp_path):
    model_with_attrs(tmp_path, device="gpu", device_name="gpu (H100)", dataset="mnist",
                     dataset_source="https://example.org/mnist", dataset_checksum="abc123")
    assert runs._made_from(tmp_path) == {
        "device": "gpu (H100)", "data": {"name": "mnist", "source": "https://example.org/mnist", "checksum": "abc123"}}


def test_made_from_takes_the_device_kind_without_a_device_name_and_only_the_data_fields_present(tmp_path):
    model_with_attrs(tmp_path, device="cpu", dataset="mnist")
    assert runs._made_from(tmp_path) == {"device": "cpu", "data": {"name": "mnist"}}


def test_made_from_a_model_that_says_nothing_is_no_device_and_no_data(tmp_path):
    model_with_attrs(tmp_path, phase="train")
    assert runs._made_from(tmp_path) == {"device": None, "data": None}


def test_a_finished_runs_provenance_names_the_device_and_data_of_its_model(tmp_path):
    with runs.new_run(tmp_path, "x") as run:
        model_with_attrs(run.tmp, device="cpu", device_name="cpu (NumPy 2)", dataset="mnist")
    record = json.loads((run.path / "provenance.json").read_text())
    assert record["device"] == "cpu (NumPy 2)" and record["data"] == {"name": "mnist"}


# -- reopen_run, check_unfinished, _locate_unfinished -----------------------------------------


def unfinished(root, name="x"):
    """An unfinished run folder whose writer has gone (its lock free), with a spec."""
    run = runs.reserve_run(root, name, NOW)
    (run.tmp / runs.SPEC_FILE).write_text("name: x\n")
    run.release()
    return run.tmp


@pytest.mark.parametrize("given", [f"x-{STAMP}", f"x-{STAMP}.tmp", "path"])
def test_reopening_locks_the_unfinished_folder_and_removes_only_stale_parts(tmp_path, given):
    tmp = unfinished(tmp_path)
    (tmp / "model.h5.k3j2.part").write_bytes(b"half")
    (tmp / "checkpoint.h5").write_bytes(b"kept")
    run = runs.reopen_run(tmp_path, str(tmp) if given == "path" else given)
    assert run.tmp == tmp and run.path == tmp_path / f"x-{STAMP}"
    assert sorted(p.name for p in tmp.iterdir()) == ["checkpoint.h5", "lock", "provenance.json", "spec.yaml",
                                                      "status.json"]
    assert runstate.is_locked(tmp)
    run.release()


def test_a_run_still_running_is_refused_naming_its_process(tmp_path):
    run = runs.reserve_run(tmp_path, "x", NOW)
    (run.tmp / runs.SPEC_FILE).write_text("name: x\n")
    message = f"{run.tmp}: still running (pid {os.getpid()} on {socket.gethostname()}); stop it first (Ctrl-C or kill -TERM)"
    assert refused(runs.check_unfinished, tmp_path, run.tmp.name) == message
    assert refused(runs.reopen_run, tmp_path, run.tmp.name) == message
    run.release()


def test_a_lock_taken_by_another_process_after_the_check_is_refused(tmp_path, monkeypatch):
    tmp = unfinished(tmp_path)
    monkeypatch.setattr(runstate, "take_lock", lambda folder: None)
    assert refused(runs.reopen_run, tmp_path, tmp.name).startswith(f"{tmp}: still running (pid {os.getpid()} on ")


def test_still_running_without_a_readable_status_names_no_process(tmp_path):
    (tmp_path / runstate.STATUS_FILE).write_text("{damaged")
    assert str(runs._still_running(tmp_path)) == f"{tmp_path}: still running (pid ? on ?); stop it first (Ctrl-C or kill -TERM)"


@pytest.mark.parametrize("missing", [runs.SPEC_FILE, runstate.STATUS_FILE])
def test_an_unfinished_folder_without_its_spec_or_status_is_no_run_to_continue(tmp_path, missing):
    tmp = unfinished(tmp_path)
    (tmp / missing).unlink()
    assert refused(runs.check_unfinished, tmp_path, tmp.name) == f"{tmp}: not an unfinished run folder (no {missing})"


def test_an_unfinished_folder_with_a_damaged_status_is_refused_before_anything_changes(tmp_path):
    tmp = unfinished(tmp_path)
    (tmp / runstate.STATUS_FILE).write_text("[1, 2]")
    (tmp / "x.part").write_text("stale")
    assert refused(runs.reopen_run, tmp_path, tmp.name).startswith(f"{tmp / runstate.STATUS_FILE}: not a run status")
    assert (tmp / "x.part").exists()


def test_run_names_that_name_no_unfinished_folder_are_refused(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    gone = str(tmp_path / "gone" / f"x-{STAMP}.tmp")
    assert refused(runs.reopen_run, root, gone) == f"{gone}: no such run folder"
    assert refused(runs.reopen_run, root, "x") == "x: not a run folder name (expected <name>-<YYYYmmdd-HHMMSS>[-k][.tmp])"
    assert refused(runs.reopen_run, root, f"x-{STAMP}-2") == f"x-{STAMP}-2: no such run folder in {root}"
    (tmp_path / "notarun").mkdir()
    assert refused(runs.reopen_run, root, str(tmp_path / "notarun")) == (
        f"{tmp_path / 'notarun'}: not a run folder (expected a name <name>-<YYYYmmdd-HHMMSS>[-k].tmp)")


@pytest.mark.parametrize("given", [".", ".."])
def test_dot_and_dot_dot_are_paths_not_run_names(tmp_path, given):
    assert refused(runs.reopen_run, tmp_path, given) == (
        f"{given}: not a run folder (expected a name <name>-<YYYYmmdd-HHMMSS>[-k].tmp)")


@pytest.mark.parametrize("given", [f"x-{STAMP}", f"x-{STAMP}.tmp"])
def test_a_finished_run_is_never_reopened(tmp_path, given):
    (tmp_path / f"x-{STAMP}").mkdir()
    assert refused(runs.reopen_run, tmp_path, given) == (
        f"{tmp_path / f'x-{STAMP}'}: a finished run; a finished run is never changed (train a new one)")


def test_the_unfinished_folder_is_taken_over_a_finished_one_of_the_same_name(tmp_path):
    tmp = unfinished(tmp_path)
    (tmp_path / f"x-{STAMP}").mkdir()
    assert runs.check_unfinished(tmp_path, f"x-{STAMP}") == tmp


def test_a_run_folder_that_is_a_symbolic_link_is_refused(tmp_path):
    real = unfinished(tmp_path / "elsewhere")
    root = tmp_path / "runs"
    root.mkdir()
    (root / real.name).symlink_to(real)
    assert refused(runs.reopen_run, root, real.name) == f"{root / real.name}: a symbolic link; give the run folder itself"


def test_a_symbolic_link_inside_the_run_folder_is_refused_naming_the_first(tmp_path):
    tmp = unfinished(tmp_path)
    (tmp / "b.h5").symlink_to(tmp_path / "outside-b")
    (tmp / "a.h5").symlink_to(tmp_path / "outside-a")
    assert refused(runs.reopen_run, tmp_path, tmp.name) == (
        f"{tmp / 'a.h5'}: a symbolic link inside the run folder; a run's files are never written through a link "
        "(remove it)")


# -- finished_runs, resolve_run ---------------------------------------------------------------


def finished(root, name, *, phase="train", created="2026-11-21T10:00:00", monkeypatch=None, sweep=None):
    """A finished run folder with a model.h5 of that phase and creation time (made by a sweep when `sweep`)."""
    if sweep:
        monkeypatch.setenv(provenance.SWEEP_ENV, sweep)
    with runs.new_run(root, name) as run:
        (run.tmp / runs.SPEC_FILE).write_text("name: x\n")
        model_with_attrs(run.tmp, phase=phase, created=created)
    if sweep:
        monkeypatch.delenv(provenance.SWEEP_ENV)
    return run.path


def test_finished_runs_are_listed_oldest_first_and_by_phase_when_asked(tmp_path):
    pruned = finished(tmp_path, "p", phase="prune", created="2026-11-21T12:00:00")
    late = finished(tmp_path, "a", created="2026-11-21T11:00:00")
    early = finished(tmp_path, "b", created="2026-11-21T09:00:00")
    assert runs.finished_runs(tmp_path) == [early, late, pruned]
    assert runs.finished_runs(tmp_path, "train") == [early, late]
    assert runs.finished_runs(tmp_path, "prune") == [pruned]


def test_runs_made_at_the_same_time_are_listed_by_name(tmp_path):
    second = finished(tmp_path, "b")
    first = finished(tmp_path, "a")
    assert runs.finished_runs(tmp_path) == [first, second]


def test_unfinished_runs_and_folders_without_a_model_are_no_finished_runs(tmp_path):
    run = finished(tmp_path, "a")
    unfinished(tmp_path, "u")
    with runs.new_run(tmp_path, "nomodel"):
        pass
    assert runs.finished_runs(tmp_path) == [run]
    assert runs.finished_runs(tmp_path / "absent") == []


def test_a_run_whose_model_cannot_be_read_counts_as_oldest_and_of_no_phase(tmp_path):
    good = finished(tmp_path, "a", created="2026-01-01T00:00:00")
    damaged = finished(tmp_path, "z")
    (damaged / runs.MODEL_FILE).write_bytes(b"not hdf5" * 20)
    assert runs.finished_runs(tmp_path) == [damaged, good]
    assert runs.finished_runs(tmp_path, "train") == [good]


def test_a_run_whose_model_says_no_time_counts_as_oldest(tmp_path):
    dated = finished(tmp_path, "a", created="2026-01-01T00:00:00")
    with runs.new_run(tmp_path, "z") as run:
        model_with_attrs(run.tmp, phase="train")  # no spec.yaml: read from model.h5 as a damaged run
    assert runs.finished_runs(tmp_path) == [run.path, dated]


def test_finding_finished_runs_writes_nothing_into_the_runs_folder(tmp_path):
    finished(tmp_path, "a")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert not (tmp_path / runs.runs_index.INDEX_FILE).exists()  # no index yet: reading would want to build one
    runs.finished_runs(tmp_path)
    runs.resolve_run(tmp_path, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_no_run_named_means_the_newest_train_run(tmp_path):
    finished(tmp_path, "old", created="2026-11-21T09:00:00")
    newest = finished(tmp_path, "new", created="2026-11-21T10:00:00")
    finished(tmp_path, "child", phase="prune", created="2026-11-21T11:00:00")
    assert runs.resolve_run(tmp_path, None) == newest


def test_no_run_named_passes_over_runs_a_sweep_made_unless_a_sweep_made_all(tmp_path, monkeypatch):
    own = finished(tmp_path, "own", created="2026-11-21T09:00:00")
    finished(tmp_path, "point", created="2026-11-21T10:00:00", monkeypatch=monkeypatch, sweep="sweep-1")
    assert runs.resolve_run(tmp_path, None) == own
    only_sweeps = tmp_path / "sweeps"
    for name, hour in (("p1", "08"), ("p2", "09")):
        finished(only_sweeps, name, created=f"2026-11-21T{hour}:00:00", monkeypatch=monkeypatch, sweep="sweep-1")
    newest = finished(only_sweeps, "p3", created="2026-11-21T10:00:00", monkeypatch=monkeypatch, sweep="sweep-1")
    assert runs.resolve_run(only_sweeps, None) == newest


def test_no_train_run_to_take_is_refused_saying_whether_other_runs_exist(tmp_path):
    hint = "; train one first, e.g. 'sparana train configs/mnist.yaml'"
    assert refused(runs.resolve_run, tmp_path, None) == f"{tmp_path}: no finished train run{hint}"
    finished(tmp_path, "child", phase="prune")
    assert refused(runs.resolve_run, tmp_path, None) == (
        f"{tmp_path}: no finished train run (only runs of other phases: name one){hint}")


def test_a_run_is_named_by_its_folder_name_in_root_or_by_a_path(tmp_path):
    run = finished(tmp_path, "a")
    assert runs.resolve_run(tmp_path, run.name) == tmp_path / run.name
    assert runs.resolve_run(tmp_path / "elsewhere", str(run)) == run


def test_a_named_run_that_is_unfinished_missing_or_no_run_is_refused(tmp_path):
    tmp = unfinished(tmp_path)
    assert refused(runs.resolve_run, tmp_path, tmp.name) == (
        f"{tmp}: an unfinished run folder (continue it with 'sparana train --resume')")
    (tmp_path / "plain").mkdir()
    assert refused(runs.resolve_run, tmp_path, "plain") == f"{tmp_path / 'plain'}: not a run folder (no spec.yaml)"
    assert refused(runs.resolve_run, tmp_path, "nope") == f"run nope: no such folder (looked in . and {tmp_path})"
    assert refused(runs.resolve_run, tmp_path, "-x") == "run -x: not a run folder name"


@pytest.mark.parametrize("given", [".", ".."])
def test_dot_and_dot_dot_name_folders_for_resolve_run(tmp_path, monkeypatch, given):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert refused(runs.resolve_run, tmp_path / "runs", given) == f"{given}: not a run folder (no spec.yaml)"
