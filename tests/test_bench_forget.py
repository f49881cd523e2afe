"""The forgetting benchmark runs and reports what it says (timings themselves are not tested)."""

from pathlib import Path

from bench.forget import PRESETS, forget_rows, format_rows
from tests.test_cli import train_json


def test_forget_rows_smoke(spec_file, runs_dir):
    run = Path(train_json(spec_file, runs_dir, "train.epochs=1")["run"])
    rows = forget_rows(run, [6], repeats=1, device="cpu")
    (row,) = rows
    assert row["class"] == 6 and row["retrain_s"] > 0
    for name in PRESETS:
        assert row[f"{name}_s"] > 0  # one repeat: the paired ratio is the ratio of the two times
        assert abs(row[f"{name}_ratio"] - row["retrain_s"] / row[f"{name}_s"]) < 1e-9
        assert row[f"{name}_ratios"] == [row[f"{name}_ratio"]]
    assert "retrain / default" in format_rows(rows)
