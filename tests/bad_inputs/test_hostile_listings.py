"""Listings that broke: an interrupted sweep's header row, a provenance.json of the wrong shape, `runs rm` on a
folder it cannot remove, and a sweep whose every point could be refused before anything starts."""

from __future__ import annotations

import json
import os

import pytest

from sparana_cli.store import catalog, runs, sweepfolder
from tests.bad_inputs.test_hostile_writes import invoke, one_line
from tests.test_bad_inputs import World, _snapshot, template  # noqa: F401  (template: the fixture World copies)


def _sweep_holding(world: World, member) -> str:
    """A finished sweep folder whose (only) run is `member`, as its provenance says."""
    sweep = runs.reserve_run(world.runs, "tiny-sweep", phase="sweep")
    sweepfolder.write_plan(sweep.tmp, {"command": "train", "points": 1})
    runs.finish_run(sweep)
    record = json.loads((member / "provenance.json").read_text())
    (member / "provenance.json").write_text(json.dumps({**record, "sweep": sweep.path.name}))
    return sweep.path.name


def test_runs_lists_a_sweep_whose_run_was_interrupted(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    name = _sweep_holding(world, world.unfinished)
    result, _ = invoke(world, "runs")
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith(name))
    assert "sweep" in lines[header] and lines[header + 1].startswith("  " + world.unfinished.name)
    assert "interrupted in epoch" in lines[header + 1]


@pytest.mark.parametrize("shape", [{"argv": "sparana train x", "git": "abc"}, {"sessions": [1, 2]},
                                   {"git": {"commit": 7}, "pid": "many", "host": ["a"]}])
def test_runs_show_names_a_provenance_of_the_wrong_shape(template, tmp_path, shape):  # noqa: F811
    world = World(tmp_path, template)
    path = world.finished / "provenance.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **shape}))
    result, _ = invoke(world, "runs", "show", world.finished.name)
    assert result.exit_code == 0, (result.output, result.exception)
    damaged = next(line for line in result.output.splitlines() if "damaged   provenance.json:" in line)
    assert all(key in damaged for key in shape) and "of the wrong shape" in damaged


@pytest.mark.parametrize("text", [b"[1, 2, 3]", b'"a string"', b"{not json", b"\xff\xfe"])
def test_runs_show_names_a_provenance_that_is_no_json_object(template, tmp_path, text):  # noqa: F811
    """It said the run was written before sparana kept provenance.json: the file is there, damaged."""
    world = World(tmp_path, template)
    (world.finished / "provenance.json").write_bytes(text)
    result, _ = invoke(world, "runs", "show", world.finished.name)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "damaged   provenance.json: not a JSON object" in result.output and "not recorded" not in result.output


def test_runs_rm_that_cannot_remove_says_so_in_one_line(template, tmp_path, monkeypatch):  # noqa: F811
    world = World(tmp_path, template)

    def read_only(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path / "model.h5"))

    monkeypatch.setattr(catalog.shutil, "rmtree", read_only)
    result, lines = invoke(world, "runs", "rm", world.finished.name, "--yes")
    one_line(result, lines, 2, "model.h5: cannot remove (Permission denied); removed 0 of 1")


def test_runs_rm_refuses_a_read_only_folder_before_saying_what_it_will_remove(template, tmp_path):  # noqa: F811
    if os.geteuid() == 0:
        pytest.skip("root may write a read-only folder")
    world = World(tmp_path, template)
    world.finished.chmod(0o555)
    try:
        before = _snapshot(world.runs)
        result, lines = invoke(world, "runs", "rm", world.finished.name, "--yes")
        one_line(result, lines, 2, "read-only")
        assert "will remove" not in result.output and _snapshot(world.runs) == before
    finally:
        world.finished.chmod(0o755)


@pytest.mark.parametrize("axis, key", [("model.hidden=[1000000000],[2000000000]", "model.hidden"),
                                       ("train.batch_size=1000000000000,2000000000000", "train.batch_size")])
def test_a_sweep_whose_every_point_cannot_fit_is_refused_before_anything(template, tmp_path, axis, key):  # noqa: F811
    world = World(tmp_path, template)
    before = _snapshot(world.runs)
    result, lines = invoke(world, "sweep", world.spec, axis)
    one_line(result, lines, 2, key)
    assert _snapshot(world.runs) == before
