import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.engine.backend import _cupy
from sparana_cli.store import runs
from tests.conftest import IDX_NAMES, tiny_spec, write_idx_folder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def train_json(spec_file, runs_dir, *overrides):
    result = invoke("train", spec_file, *overrides, "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def trained_tiny_run(base: Path) -> Path:
    """A run trained from the tiny spec on tiny IDX data, all written under base (for module-scoped fixtures)."""
    spec = base / "tiny.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(write_idx_folder(base / "data"))))
    return Path(train_json(spec, base / "runs")["run"])


def test_train_writes_a_complete_run(spec_file, runs_dir):
    summary = train_json(spec_file, runs_dir)
    assert {"run", "test_accuracy", "seconds"} <= summary.keys()
    run = runs_dir / summary["run"].split("/")[-1]
    assert sorted(p.name for p in run.iterdir()) == ["metrics.h5", "model.h5", "provenance.json", "spec.yaml", "status.json"]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert not any(p.name.endswith(".tmp") for p in runs_dir.iterdir())
    assert yaml.safe_load((run / "spec.yaml").read_text())["train"]["epochs"] == 3
    with h5py.File(run / "model.h5") as f:
        assert f.attrs["phase"] == "train" and f.attrs["parent"] == "" and f.attrs["seed"] == 3
        assert f.attrs["dataset"] == "mnist" and len(f.attrs["dataset_checksum"]) == 64
        assert [f[f"layers/{i}/weights"].shape for i in range(3)] == [(36, 24), (24, 16), (16, 10)]
    with h5py.File(run / "metrics.h5") as f:
        assert [len(f[f"train/{k}"]) for k in ("loss", "train_accuracy", "val_accuracy")] == [3, 3, 3]
        assert f["train"].attrs["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert summary["test_accuracy"] > 0.5


def test_overrides_are_applied_and_recorded(spec_file, runs_dir):
    summary = train_json(spec_file, runs_dir, "train.epochs=1", "model.hidden=[8]")
    spec = yaml.safe_load((runs_dir / summary["run"].split("/")[-1] / "spec.yaml").read_text())
    assert spec["train"]["epochs"] == 1 and spec["model"]["hidden"] == [8]


def test_human_output_without_json(spec_file, runs_dir):
    result = invoke("train", spec_file, "--runs-dir", runs_dir)
    assert result.exit_code == 0
    assert "test accuracy" in result.stdout and "run: " in result.stdout


def test_same_seed_twice_gives_identical_weights(spec_file, runs_dir):
    a = runs.load_model(train_json(spec_file, runs_dir)["run"])[0]
    b = runs.load_model(train_json(spec_file, runs_dir)["run"])[0]
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        assert wa.tobytes() == wb.tobytes()


def test_evaluate_reports_on_the_newest_run(spec_file, runs_dir):
    summary = train_json(spec_file, runs_dir)
    result = invoke("evaluate", "--runs-dir", runs_dir, "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["run"] == summary["run"]
    assert report["accuracy"] == pytest.approx(summary["test_accuracy"])
    assert len(report["per_class_accuracy"]) == 10
    confusion = np.array(report["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 100
    assert report["parameters"]["total"] == 36 * 24 + 24 + 24 * 16 + 16 + 16 * 10 + 10
    by_name = json.loads(invoke("evaluate", summary["run"].split("/")[-1], "--runs-dir", runs_dir, "--json").stdout)
    assert by_name["accuracy"] == report["accuracy"]
    human = invoke("evaluate", "--runs-dir", runs_dir)
    assert "confusion matrix" in human.stdout and "nonzero" in human.stdout


def test_runs_dir_from_environment(spec_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SPARANA_RUNS", str(tmp_path / "envruns"))
    result = invoke("train", spec_file, "train.epochs=1", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["run"].startswith(str(tmp_path / "envruns"))


def test_spec_command(spec_file):
    result = invoke("spec", spec_file, "train.epochs=7")
    assert result.exit_code == 0 and yaml.safe_load(result.stdout)["train"]["epochs"] == 7
    assert "# passes over the training split" in invoke("spec").stdout


def test_python_dash_m():
    done = subprocess.run([sys.executable, "-m", "sparana_cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "train" in done.stdout and "evaluate" in done.stdout


# -- bad input: one line, exit 2, no traceback, runs folder untouched ---------------------------


def _write(path, text):
    path.write_text(text)
    return path


def _damage(path, how):
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if how == "truncate" else b"\x00\x00\x99\x03" + raw[4:])


@pytest.fixture
def finished_run(spec_file, tmp_path):
    """A finished run in its own runs folder, copied fresh for each bad-input case."""
    store = tmp_path / "good-runs"
    return runs_dir_run(train_json(spec_file, store, "train.epochs=1")["run"])


def runs_dir_run(path):
    from pathlib import Path

    return Path(path)


BAD_TRAIN = {
    "missing spec file": lambda t, s: (t / "nope.yaml", []),
    "broken yaml": lambda t, s: (_write(t / "b.yaml", "model: [1, 2\n"), []),
    "spec not a mapping": lambda t, s: (_write(t / "b.yaml", "- 1\n- 2\n"), []),
    "unknown key": lambda t, s: (s, ["train.epoch=3"]),
    "wrong type": lambda t, s: (s, ["train.epochs=many"]),
    "out of range": lambda t, s: (s, ["train.lr=-0.1"]),
    "override without =": lambda t, s: (s, ["train.epochs"]),
    "missing data folder": lambda t, s: (s, [f"data.path={t / 'absent'}"]),
    "bad run name": lambda t, s: (s, ["name=../../escape"]),
}


@pytest.mark.parametrize("case", BAD_TRAIN)
def test_bad_train_input(case, tmp_path, spec_file, runs_dir):
    path, overrides = BAD_TRAIN[case](tmp_path, spec_file)
    check_refused(["train", path, *overrides, "--runs-dir", runs_dir], runs_dir)


@pytest.mark.parametrize("how", ["truncate", "magic"])
@pytest.mark.parametrize("role", ["train_images", "test_labels"])
def test_corrupt_idx_is_named(how, role, tmp_path, runs_dir):
    folder = write_idx_folder(tmp_path / "bad")
    _damage(folder / (IDX_NAMES[role] + ".gz"), how)
    spec = _write(tmp_path / "s.yaml", yaml.safe_dump(tiny_spec(folder)))
    line = check_refused(["train", spec, "--runs-dir", runs_dir], runs_dir)
    assert IDX_NAMES[role] in line


@pytest.mark.skipif(_cupy() is not None, reason="a GPU is present")
def test_gpu_without_gpu(spec_file, runs_dir):
    line = check_refused(["train", spec_file, "device=gpu", "--runs-dir", runs_dir], runs_dir)
    assert "no usable GPU" in line


def test_unknown_option(spec_file, runs_dir):
    check_refused(["train", spec_file, "--epochs", "3", "--runs-dir", runs_dir], runs_dir)


@pytest.mark.parametrize("damage", ["no run", "garbage model", "missing spec", "missing model", "shape mismatch", "data gone"])
def test_bad_evaluate_input(damage, finished_run, tmp_path):
    store = tmp_path / "store"
    run = store / finished_run.name
    shutil.copytree(finished_run, run)
    target = [run]
    if damage == "no run":
        target = [store / "nope"]
    elif damage == "garbage model":
        (run / "model.h5").write_bytes(b"garbage")
    elif damage == "missing spec":
        (run / "spec.yaml").unlink()
    elif damage == "missing model":
        (run / "model.h5").unlink()
    elif damage == "shape mismatch":
        other = write_idx_folder(tmp_path / "wide")
        from sparana_cli.data.idx import write_idx

        write_idx(other / (IDX_NAMES["train_images"] + ".gz"), np.zeros((300, 8, 8), np.uint8))
        write_idx(other / (IDX_NAMES["test_images"] + ".gz"), np.zeros((100, 8, 8), np.uint8))
        spec = yaml.safe_load((run / "spec.yaml").read_text())
        spec["data"]["path"] = str(other)
        (run / "spec.yaml").write_text(yaml.safe_dump(spec))
    elif damage == "data gone":
        spec = yaml.safe_load((run / "spec.yaml").read_text())
        shutil.rmtree(spec["data"]["path"])
    check_refused(["evaluate", *target, "--runs-dir", store], store)


def test_evaluate_with_no_runs(tmp_path):
    check_refused(["evaluate", "--runs-dir", tmp_path / "empty"], tmp_path / "empty")


def check_refused(args, runs_dir):
    before = _listing(runs_dir)
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("run: ")]  # the default RUN, said
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    assert _listing(runs_dir) == before
    return lines[0]


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else None


def test_a_run_is_loaded_with_its_data_checked_to_fit_and_the_same(tmp_path, capsys):
    from sparana_cli.data.idx import write_idx
    from sparana_cli.errors import UserError
    from sparana_cli.store.reader import load_run_with_data
    from sparana_cli.ui import Console
    from tests.conftest import IDX_NAMES, make_images

    run = trained_tiny_run(tmp_path)
    spec, net, attrs, dataset, backend = load_run_with_data(run, Console(json_mode=True))
    assert net.sizes[0] == dataset.n_features == 36 and backend.name == "cpu" and spec.seed == 3
    assert "warning" not in capsys.readouterr().err
    with h5py.File(run / "model.h5", "a") as f:
        f.attrs["dataset_checksum"] = "0" * 64
    load_run_with_data(run, Console(json_mode=True))
    assert capsys.readouterr().err.strip().endswith(
        f"warning: the mnist data read now ({dataset.source}) differs from the data {run.name} was trained on; "
        "figures are not comparable")
    other = tmp_path / "five-by-five"
    other.mkdir()
    for role, seed, n in (("train", 1, 300), ("test", 2, 100)):
        x, y = make_images(n, seed=seed, side=5)
        write_idx(other / IDX_NAMES[f"{role}_images"], x)
        write_idx(other / IDX_NAMES[f"{role}_labels"], y)
    spec_file = run / "spec.yaml"
    spec_file.write_text(spec_file.read_text().replace(str(tmp_path / "data"), str(other)))
    with pytest.raises(UserError) as refused:
        load_run_with_data(run, Console(json_mode=True))
    assert str(refused.value) == (f"{run / 'model.h5'}: the network maps 36 inputs to 10 outputs, but mnist has 25 "
                                  "features and 10 classes")
