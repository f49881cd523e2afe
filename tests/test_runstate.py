"""store/runstate.py on its own: status.json, the writer's lock, and the state a listing shows."""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime

import pytest

from sparana_cli.errors import RunFailed, UserError
from sparana_cli.store import runstate


def status_file(folder):
    return folder / "status.json"


def write_raw_status(folder, obj) -> None:
    status_file(folder).write_text(json.dumps(obj), encoding="utf-8")


# now and start_fields


def test_now_is_the_local_time_to_the_second():
    before = datetime.now().replace(microsecond=0)
    stamp = runstate.now()
    after = datetime.now()
    assert "." not in stamp  # no fractions of a second
    assert before <= datetime.fromisoformat(stamp) <= after


def test_start_fields_name_this_process_and_host():
    fields = runstate.start_fields("train")
    assert fields["phase"] == "train"
    assert fields["pid"] == os.getpid()
    assert fields["host"] == socket.gethostname()
    assert abs((datetime.now() - datetime.fromisoformat(fields["started"])).total_seconds()) < 5
    assert set(fields) == {"phase", "pid", "host", "started"}


# write_status


def test_write_status_creates_status_json_with_the_state_and_fields(tmp_path):
    returned = runstate.write_status(tmp_path, "running", epoch=2, step=40)
    on_disk = json.loads(status_file(tmp_path).read_text(encoding="utf-8"))
    assert on_disk == returned
    assert on_disk["state"] == "running"
    assert (on_disk["epoch"], on_disk["step"]) == (2, 40)
    datetime.fromisoformat(on_disk["updated"])


def test_write_status_keeps_fields_already_there_and_replaces_the_state(tmp_path):
    runstate.write_status(tmp_path, "running", phase="train", epoch=1)
    status = runstate.write_status(tmp_path, "interrupted", epoch=3)
    assert status["state"] == "interrupted"
    assert status["phase"] == "train"  # kept
    assert status["epoch"] == 3  # replaced
    assert runstate.read_status(tmp_path) == status


def test_write_status_refreshes_the_updated_time(tmp_path):
    write_raw_status(tmp_path, {"state": "running", "updated": "2000-01-01T00:00:00"})
    status = runstate.write_status(tmp_path, "failed")
    assert datetime.fromisoformat(status["updated"]).year > 2000


def test_write_status_replaces_a_damaged_status_file(tmp_path):
    status_file(tmp_path).write_text("{not json", encoding="utf-8")
    status = runstate.write_status(tmp_path, "running", epoch=0)
    assert runstate.read_status(tmp_path) == status
    assert set(status) == {"state", "updated", "epoch"}


def test_write_status_ends_the_file_with_a_newline(tmp_path):
    runstate.write_status(tmp_path, "completed")
    assert status_file(tmp_path).read_text(encoding="utf-8").endswith("}\n")


@pytest.mark.parametrize("state", ["killed", "done", ""])
def test_write_status_refuses_a_state_that_is_not_written(tmp_path, state):
    with pytest.raises(AssertionError):
        runstate.write_status(tmp_path, state)
    assert not status_file(tmp_path).exists()


@pytest.mark.parametrize("state", ["running", "completed", "failed", "interrupted"])
def test_every_written_state_reads_back(tmp_path, state):
    runstate.write_status(tmp_path, state)
    assert runstate.read_status(tmp_path)["state"] == state


# mark_failed


def test_mark_failed_records_the_message_and_keeps_the_rest(tmp_path):
    runstate.write_status(tmp_path, "running", epoch=4)
    runstate.mark_failed(tmp_path, "loss became NaN")
    status = runstate.read_status(tmp_path)
    assert (status["state"], status["message"], status["epoch"]) == ("failed", "loss became NaN", 4)


def test_mark_failed_on_a_missing_folder_does_nothing(tmp_path):
    runstate.mark_failed(tmp_path / "gone", "whatever")
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RunFailed("disk full")])
def test_mark_failed_swallows_a_failed_write(tmp_path, monkeypatch, error):
    def fail(*args):
        raise error

    monkeypatch.setattr(runstate, "write_text_atomic", fail)
    runstate.mark_failed(tmp_path, "the original error")  # no exception: the original error is what counts
    assert not status_file(tmp_path).exists()


# read_status


def test_read_status_of_a_folder_without_one_is_none(tmp_path):
    assert runstate.read_status(tmp_path) is None
    assert runstate.read_status(tmp_path, strict=False) is None


def test_read_status_returns_the_whole_object(tmp_path):
    write_raw_status(tmp_path, {"state": "completed", "pid": 12, "host": "h"})
    assert runstate.read_status(tmp_path) == {"state": "completed", "pid": 12, "host": "h"}


def test_read_status_of_broken_json_is_a_one_line_user_error(tmp_path):
    status_file(tmp_path).write_text("{oops", encoding="utf-8")
    with pytest.raises(UserError) as err:
        runstate.read_status(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{status_file(tmp_path)}: unreadable run status (JSONDecodeError: ")
    assert "\n" not in message
    assert runstate.read_status(tmp_path, strict=False) is None


def test_read_status_of_undecodable_bytes_is_a_user_error(tmp_path):
    status_file(tmp_path).write_bytes(b'{"state": "running\xff"}')
    with pytest.raises(UserError, match="unreadable run status \\(UnicodeDecodeError"):
        runstate.read_status(tmp_path)
    assert runstate.read_status(tmp_path, strict=False) is None


def test_read_status_of_a_folder_named_status_json_is_a_user_error(tmp_path):
    status_file(tmp_path).mkdir()
    with pytest.raises(UserError, match="unreadable run status"):
        runstate.read_status(tmp_path)
    assert runstate.read_status(tmp_path, strict=False) is None


@pytest.mark.parametrize("obj", [["running"], "running", 3, None, {}, {"state": "killed"}, {"state": "RUNNING"},
                                 {"state": None}, {"phase": "train"}])
def test_read_status_refuses_what_is_not_a_run_status(tmp_path, obj):
    write_raw_status(tmp_path, obj)
    with pytest.raises(UserError) as err:
        runstate.read_status(tmp_path)
    assert str(err.value) == (f"{status_file(tmp_path)}: not a run status (expected a JSON object with a state of "
                              "running, completed, failed, interrupted)")
    assert runstate.read_status(tmp_path, strict=False) is None


# position


def test_position_between_epochs():
    assert runstate.position(2, 0, 10) == "after epoch 2/10"


def test_position_inside_an_epoch_counts_the_epoch_from_one():
    assert runstate.position(2, 40, 10) == "in epoch 3/10 after step 40"
    assert runstate.position(0, 1, 5) == "in epoch 1/5 after step 1"


# take_lock and is_locked


def test_a_folder_without_a_lock_file_is_not_locked(tmp_path):
    assert runstate.is_locked(tmp_path) is False
    assert not (tmp_path / "lock").exists()  # asking does not create it


def test_take_lock_creates_the_lock_file_and_holds_it(tmp_path):
    with runstate.take_lock(tmp_path) as handle:  # the lock file's handle: closing it releases the lock
        assert handle is not None
        assert (tmp_path / "lock").is_file()
        assert runstate.is_locked(tmp_path) is True
        assert runstate.is_locked(tmp_path) is True  # asking twice does not release it


def test_a_held_lock_cannot_be_taken_again(tmp_path):
    with runstate.take_lock(tmp_path):
        assert runstate.take_lock(tmp_path) is None


def test_closing_the_handle_releases_the_lock(tmp_path):
    runstate.take_lock(tmp_path).close()
    assert (tmp_path / "lock").is_file()
    assert runstate.is_locked(tmp_path) is False
    again = runstate.take_lock(tmp_path)
    assert again is not None
    again.close()


def test_asking_whether_a_free_folder_is_locked_leaves_it_free(tmp_path):
    (tmp_path / "lock").touch()
    assert runstate.is_locked(tmp_path) is False
    handle = runstate.take_lock(tmp_path)
    assert handle is not None
    handle.close()


def test_take_lock_keeps_the_lock_files_content(tmp_path):
    (tmp_path / "lock").write_text("kept\n")
    handle = runstate.take_lock(tmp_path)
    handle.close()
    assert (tmp_path / "lock").read_text() == "kept\n"


def test_take_lock_in_a_missing_folder_is_a_user_error(tmp_path):
    folder = tmp_path / "gone"
    with pytest.raises(UserError) as err:
        runstate.take_lock(folder)
    assert str(err.value) == f"{folder}: cannot lock the run folder (No such file or directory)"


def test_a_lock_path_that_is_a_folder_is_not_a_lock(tmp_path):
    (tmp_path / "lock").mkdir()
    assert runstate.is_locked(tmp_path) is False


def test_an_unreadable_lock_file_is_not_locked(tmp_path, monkeypatch):
    (tmp_path / "lock").touch()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    assert runstate.is_locked(tmp_path) is False


def test_without_fcntl_a_lock_is_an_open_file_and_nothing_is_locked(tmp_path, monkeypatch):
    monkeypatch.setattr(runstate, "fcntl", None)
    handle = runstate.take_lock(tmp_path)
    try:
        assert handle is not None and not handle.closed
        assert runstate.take_lock(tmp_path) is not None  # no locks: a second writer is not stopped
        assert runstate.is_locked(tmp_path) is False
    finally:
        handle.close()


# effective_state


def test_a_finished_folder_is_completed_whatever_its_status_says(tmp_path):
    with runstate.take_lock(tmp_path):
        assert runstate.effective_state(tmp_path, {"state": "failed"}, finished=True) == "completed"
        assert runstate.effective_state(tmp_path, None, finished=True) == "completed"


def test_an_unfinished_locked_folder_is_running(tmp_path):
    with runstate.take_lock(tmp_path):
        assert runstate.effective_state(tmp_path, {"state": "interrupted"}, finished=False) == "running"
        assert runstate.effective_state(tmp_path, None, finished=False) == "running"


@pytest.mark.parametrize("recorded", ["interrupted", "failed"])
def test_an_unfinished_free_folder_shows_its_recorded_end(tmp_path, recorded):
    assert runstate.effective_state(tmp_path, {"state": recorded}, finished=False) == recorded


@pytest.mark.parametrize("status", [None, {}, {"state": "running"}, {"state": "completed"}])
def test_an_unfinished_free_folder_without_a_recorded_end_was_killed(tmp_path, status):
    (tmp_path / "lock").touch()
    assert runstate.effective_state(tmp_path, status, finished=False) == "killed"
