"""What a newcomer trips on: where the data came from (Debian's Fashion-MNIST included), which run a command takes
by default after a sweep, a summary.png for every sweep and readable learning-rate axes, one unit for shares."""

from __future__ import annotations

import json
import shutil

import h5py
import pytest
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.data import idx_set
from sparana_cli.plots import summary_figure
from sparana_cli.store import sweepfolder
from tests.bad_inputs.test_hostile_writes import invoke
from tests.conftest import write_idx_folder
from tests.test_bad_inputs import World, template  # noqa: F401  (template: the fixture World copies)
from tests.test_data_fetch import home  # noqa: F401  (fixture: an empty $SPARANA_DATA)


@pytest.fixture
def debian_copy(tmp_path, monkeypatch):
    """A Fashion-MNIST copy where Debian's package puts it (a stand-in folder of IDX files)."""
    folder = write_idx_folder(tmp_path / "usr-share-datasets-fashion-mnist")
    monkeypatch.setattr(idx_set, "DEBIAN_FASHION_MNIST", folder)
    return folder


def test_data_list_shows_the_copy_training_reads(home, debian_copy):  # noqa: F811
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(main, ["data", "list", "--json"]).stdout)}
    assert rows["fashion-mnist"]["folder"] == str(debian_copy) and rows["fashion-mnist"]["files"] == 4
    assert rows["kmnist"]["folder"] == str(home / "kmnist") and rows["kmnist"]["files"] == 0


def test_data_fetch_says_training_already_finds_the_set(home, debian_copy):  # noqa: F811
    result = CliRunner().invoke(main, ["data", "fetch", "fashion-mnist", "--mirror", "http://127.0.0.1:9/"])
    assert f"note: training already finds fashion-mnist in {debian_copy}" in result.stderr


def test_training_says_where_its_data_came_from_and_provenance_records_it(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    result, _ = invoke(world, "train", world.spec, "train.epochs=1")
    assert result.exit_code == 0, result.output
    assert f"on mnist (IDX files in {world.data}):" in result.output
    run = next(p for p in world.runs.iterdir() if p.is_dir() and p not in (world.finished, world.unfinished))
    data = json.loads((run / "provenance.json").read_text())["data"]
    assert data["name"] == "mnist" and data["source"] == f"IDX files in {world.data}" and len(data["checksum"]) == 64
    shown, _ = invoke(world, "runs", "show", run.name)
    assert f"data      IDX files in {world.data}" in shown.output


def test_the_default_run_is_not_a_sweeps_run(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    member = world.runs / "tiny-20991231-000000"
    shutil.copytree(world.finished, member)
    record = json.loads((member / "provenance.json").read_text())
    (member / "provenance.json").write_text(json.dumps({**record, "sweep": "tiny-sweep-20991231-000000"}))
    result, _ = invoke(world, "evaluate")
    assert result.exit_code == 0 and f"run: {world.finished.name} (the newest finished train run not made by a sweep" \
        in result.stderr, result.output
    shutil.rmtree(world.finished)  # only a sweep's run is left: it is taken
    result, _ = invoke(world, "evaluate")
    assert result.exit_code == 0 and f"run: {member.name}" in result.stderr


def test_a_sweep_over_seeds_only_draws_its_summary(tmp_path):
    rows = [{"point": i, "seed": s, "status": "completed", "test_accuracy": 0.9 + s / 100} for i, s in enumerate((1, 2, 3))]
    points = sweepfolder.summarize(rows, ["seed"], ["test_accuracy"])
    written = sweepfolder.write_summary(tmp_path, points, ["seed"], ["test_accuracy"], rows)
    assert [p.name for p in written] == ["summary.csv", "summary.png"]
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_a_learning_rate_sweep_spreads_its_values_on_a_log_axis():
    lrs = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
    fig = summary_figure([{"train.lr": lr, "a_mean": 0.9, "a_std": 0.01} for lr in lrs], ["train.lr"], "a")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{lr:g}" for lr in lrs]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:])), "tick labels overlap"


def test_tables_print_shares_in_percent_like_the_rest(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    with h5py.File(world.finished / "metrics.h5") as f:
        accuracy = float(f["test"].attrs["accuracy"])
    shown, _ = invoke(world, "runs", "show", world.finished.name)
    compared, _ = invoke(world, "runs", "compare", world.finished.name, world.finished.name)
    for output in (shown.output, compared.output):
        row = next(line for line in output.splitlines() if line.startswith("test.accuracy "))
        assert f"{100 * accuracy:.2f}%" in row, row
        assert next(line for line in output.splitlines() if line.startswith("model.sparsity ")).endswith("%")


def test_a_repair_step_in_forgets_progress_says_what_it_is(template, tmp_path):  # noqa: F811
    world = World(tmp_path, template)
    result, _ = invoke(world, "forget", "--class", "3", "--run", world.finished.name, "--repair", "sgd",
                       "--rescore", "every_step", "--repair-steps", "5", "--repair-rounds", "1")
    assert result.exit_code == 0, result.output
    steps = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert steps[-1].endswith("after repair (5 fine-tuning steps on retained images; no weight removed)"), steps
    assert not any("after repair" in line for line in steps[:-1])


def test_a_sweeps_summary_table_prints_shares_in_percent():
    from sparana_cli.cli.sweep import _summary_text

    points = [{"train.lr": 0.01, "n": 3, "test_accuracy_mean": 0.5167, "test_accuracy_std": 0.1563,
               "seconds_mean": 2.5, "seconds_std": None}]
    text = _summary_text({"group_keys": ["train.lr"], "metrics": ["test_accuracy", "seconds"], "points": points,
                          "summary_files": ["summary.csv"]})
    assert "51.67% ± 15.63%" in text and "2.5000" in text and "0.5167" not in text


def test_a_sweeps_run_table_and_progress_lines_print_shares_in_percent():
    """The table of runs sat above the summary in percent with 0.83 in it, and each progress line said 0.83."""
    from sparana_cli.cli.sweep import _rows_text
    from sparana_cli.phases.sweep import _brief

    rows = [{"point": 1, "sparsity": 0.5, "status": "completed", "accuracy_before": 0.946, "accuracy_after": 0.83,
             "seconds": 0.25, "run": "/r/tiny-prune-20261205-172229", "exit_code": 0, "message": ""}]
    text = _rows_text({"rows": rows, "completed": 1, "total": 1, "csv": "/r/sweep.csv"})
    row = text.splitlines()[2].split()
    assert row[:5] == ["1", "0.5", "94.60%", "83.00%", "0.25"], row  # the swept value as given, the results in percent
    assert _brief(rows[0], ["accuracy_before", "accuracy_after", "seconds"]) == "completed  accuracy_before 94.60%"
    assert _brief({**rows[0], "test_accuracy": 0.83}, ["seconds"]) == "completed  seconds 0.25"
