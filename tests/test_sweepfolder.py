"""A sweep folder's files: the plan, the rows, and the summary over seeds, by hand-counted cases."""

import csv
import math

import pytest

from sparana_cli.store import sweepfolder as sf

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_plan_round_trips_and_a_missing_or_odd_plan_reads_as_empty(tmp_path):
    plan = {"spec": "s.yaml", "axes": {"seed": [0, 1], "train.lr": [0.1]}}
    sf.write_plan(tmp_path, plan)
    assert (tmp_path / "sweep.yaml").is_file() and sf.read_plan(tmp_path) == plan
    assert sf.read_plan(tmp_path / "nowhere") == {}
    (tmp_path / "sweep.yaml").write_text("- a list\n")
    assert sf.read_plan(tmp_path) == {}


def test_rows_are_written_as_csv_with_blank_cells_for_missing_values_and_extra_keys_left_out(tmp_path):
    sf.write_rows(tmp_path, ["seed", "status", "acc"], [{"seed": 0, "status": "completed", "acc": 0.5, "x": 9},
                                                         {"seed": 1, "status": "failed"}])
    text = (tmp_path / "sweep.csv").read_text()
    assert text == "seed,status,acc\n0,completed,0.5\n1,failed,\n"


def test_summarize_averages_completed_runs_over_seeds_per_setting():
    rows = [
        {"seed": 0, "lr": "0.1", "status": "completed", "acc": "0.5", "loss": "1"},
        {"seed": 1, "lr": "0.1", "status": "completed", "acc": "0.7", "loss": ""},
        {"seed": 2, "lr": "0.1", "status": "failed", "acc": "0.9", "loss": "5"},
        {"seed": 0, "lr": "0.3", "status": "completed", "acc": "nan", "loss": "2"},
        {"seed": 1, "lr": "0.5", "status": "interrupted", "acc": "", "loss": ""},
    ]
    points = sf.summarize(rows, ["seed", "lr"], ["acc", "loss"])
    assert [p["lr"] for p in points] == ["0.1", "0.3", "0.5"] and [p["n"] for p in points] == [2, 1, 0]
    first = points[0]
    assert first["acc_mean"] == pytest.approx(0.6) and first["acc_std"] == pytest.approx(math.sqrt(0.02))
    assert first["loss_mean"] == 1.0 and first["loss_std"] is None  # one number: no spread
    assert points[1]["acc_mean"] is None and points[1]["loss_mean"] == 2.0 and points[1]["loss_std"] is None
    assert points[2]["acc_mean"] is None and points[2]["acc_std"] is None
    assert "seed" not in first


def test_the_summary_csv_and_a_picture_of_the_metric_against_what_varies(tmp_path):
    rows = [{"seed": s, "lr": lr, "status": "completed", "acc": str(a)}
            for s, lr, a in ((0, "0.1", 0.5), (1, "0.1", 0.7), (0, "0.3", 0.6), (1, "0.3", 0.8))]
    points = sf.summarize(rows, ["seed", "lr"], ["acc"])
    written = sf.write_summary(tmp_path, points, ["seed", "lr"], ["acc"])
    assert written == [tmp_path / "summary.csv", tmp_path / "summary.png"]
    with open(tmp_path / "summary.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == ["lr", "n", "acc_mean", "acc_std"] and [r["lr"] for r in table] == ["0.1", "0.3"]
    assert float(table[1]["acc_mean"]) == pytest.approx(0.7)
    assert (tmp_path / "summary.png").read_bytes().startswith(PNG_MAGIC)


def test_a_seeds_only_sweep_draws_each_seed_and_a_sweep_with_nothing_to_draw_writes_only_the_table(tmp_path):
    rows = [{"seed": s, "status": "completed", "acc": str(a)} for s, a in ((0, 0.5), (1, 0.7), (2, 0.6))]
    points = sf.summarize(rows, ["seed"], ["acc"])
    assert len(points) == 1 and points[0]["n"] == 3
    assert sf.write_summary(tmp_path / "", points, ["seed"], ["acc"], rows)[-1] == tmp_path / "summary.png"
    other = tmp_path / "flat"
    other.mkdir()
    flat = [{"seed": 0, "lr": "0.1", "status": "completed", "acc": "0.5"}]
    assert sf.write_summary(other, sf.summarize(flat, ["seed", "lr"], ["acc"]), ["seed", "lr"], ["acc"]) == [
        other / "summary.csv"]  # one setting: nothing varies, and not a seeds-only sweep
    failed = [{"seed": 0, "lr": lr, "status": "failed", "acc": ""} for lr in ("0.1", "0.3")]
    nothing = tmp_path / "failed"
    nothing.mkdir()
    assert sf.write_summary(nothing, sf.summarize(failed, ["seed", "lr"], ["acc"]), ["seed", "lr"], ["acc"]) == [
        nothing / "summary.csv"]  # no mean to draw
