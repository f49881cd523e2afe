"""A researcher's own data: CSV, NPZ and HDF5 files of any shape run the whole pipeline; bad files are refused."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from sparana_cli.data import load_dataset
from sparana_cli.spec import spec_from_mapping
from tests.test_cli import check_refused, invoke


def clusters(n: int, n_classes: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Well separated Gaussian clusters, one per class, at a scale far from [0, 1]: (n, f) float64, (n,) int."""
    centres = np.random.default_rng(99).normal(0, 40, (n_classes, n_features)) + 500
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    return centres[y] + rng.normal(0, 4, (n, n_features)), y


def own_spec(tmp_path: Path, data: dict, **train) -> Path:
    spec = {"name": "own", "seed": 1, "device": "cpu", "data": data, "model": {"hidden": [32, 24]},
            "train": {"optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 4, **train}}
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def write_csv(path: Path, x, y, *, header: bool = True, label_at: int = 2) -> Path:
    lines = []
    if header:
        names = [f"f{i}" for i in range(x.shape[1])]
        names.insert(label_at, "label")
        lines.append(",".join(names))
    for row, label in zip(x, y):
        cells = [f"{v:.3f}" for v in row]
        cells.insert(label_at % (len(cells) + 1), str(label))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def ok_json(*args) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def pipeline(spec: Path, runs: Path, n_classes: int, n_features: int, target: int) -> dict:
    """train -> prune -> forget -> evaluate through the CLI; returns the evaluate summary."""
    trained = ok_json("train", spec, "--runs-dir", runs)
    with h5py.File(Path(trained["run"]) / "model.h5") as f:
        assert f["layers/0/weights"].shape[0] == n_features
        assert f[f"layers/{f.attrs['n_layers'] - 1}/weights"].shape[1] == n_classes
    assert trained["test_accuracy"] > 0.9, trained  # the clusters are easy: the data reached the model intact
    pruned = ok_json("prune", "--run", trained["run"], "--sparsity", "0.5", "--runs-dir", runs)
    forgot = ok_json("forget", "--class", target, "--run", pruned["run"], "--step", "4", "--max-fraction", "0.5",
                     "--runs-dir", runs)
    assert forgot["class"] == target and forgot["df_after"] <= forgot["df_before"]
    summary = ok_json("evaluate", forgot["run"], "--runs-dir", runs)
    assert len(summary["per_class_accuracy"]) == n_classes
    return summary


def test_three_class_csv_runs_train_prune_forget_evaluate(tmp_path):
    x, y = clusters(240, 3, 5, seed=1)
    data = write_csv(tmp_path / "cells.csv", x, y, label_at=2)
    spec = own_spec(tmp_path, {"name": "my-cells", "format": "csv", "path": str(data), "normalize": "standard"})
    pipeline(spec, tmp_path / "runs", n_classes=3, n_features=5, target=1)
    line = check_refused(["forget", "--class", "3", "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    assert "my-cells has classes 0..2" in line


def test_twenty_class_npz_runs_train_prune_forget_evaluate(tmp_path):
    x, y = clusters(1200, 20, 12, seed=2)
    xv, yv = clusters(200, 20, 12, seed=3)
    xt, yt = clusters(400, 20, 12, seed=4)
    data = tmp_path / "twenty.npz"
    np.savez(data, x_train=x.astype(np.float32), y_train=y.astype(np.int16), x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    spec = own_spec(tmp_path, {"name": "twenty", "format": "npz", "path": str(data)}, epochs=6)
    summary = pipeline(spec, tmp_path / "runs", n_classes=20, n_features=12, target=17)
    assert summary["test_samples"] == 400


def load(data: dict, seed: int = 0):
    return load_dataset(spec_from_mapping({"data": data}, "test").data, seed)


def test_csv_without_header_label_by_index_and_a_test_file(tmp_path):
    x, y = clusters(60, 3, 4, seed=1)
    xt, yt = clusters(30, 3, 4, seed=2)
    train = write_csv(tmp_path / "train.csv", x, y, header=False, label_at=0)
    test = write_csv(tmp_path / "test.csv", xt, yt, header=False, label_at=0)
    ds = load({"name": "c", "format": "csv", "path": str(train), "test_path": str(test), "label_column": 0,
               "validation": 0.0})
    assert (ds.n_classes, ds.n_features, len(ds.y_train), len(ds.y_test)) == (3, 4, 60, 30)
    np.testing.assert_array_equal(ds.y_test, yt)
    # unit scaling of numbers that are not bytes: min-max of the training split
    assert ds.x_train[:].min() == 0.0 and ds.x_train[:].max() == 1.0


def test_csv_holds_out_the_same_test_rows_whatever_the_seed(tmp_path):
    x, y = clusters(100, 4, 3, seed=1)
    data = {"name": "c", "format": "csv", "path": str(write_csv(tmp_path / "c.csv", x, y)), "test_fraction": 0.25}
    a, b = load(data, seed=0), load(data, seed=5)
    assert len(a.y_test) == 25
    np.testing.assert_array_equal(a.x_test[:], b.x_test[:])
    assert not np.array_equal(a.x_val[:], b.x_val[:])


def test_hdf5_dataset_paths_from_the_spec(tmp_path):
    x, y = clusters(90, 5, 6, seed=1)
    xt, yt = clusters(40, 5, 6, seed=2)
    path = tmp_path / "set.h5"
    with h5py.File(path, "w") as f:
        f["train/images"], f["train/labels"] = x.reshape(90, 2, 3), y.astype(np.uint8)
        f["test/images"], f["test/labels"] = xt.reshape(40, 2, 3), yt.astype(np.uint8)
    keys = {"x_train": "train/images", "y_train": "train/labels", "x_test": "test/images", "y_test": "test/labels"}
    ds = load({"name": "h", "format": "hdf5", "path": str(path), "keys": keys, "normalize": "none"})
    assert (ds.n_classes, ds.n_features) == (5, 6)
    np.testing.assert_allclose(ds.x_test[:], xt.astype(np.float32))  # normalize none: the file's numbers


def test_standard_scaling_uses_training_statistics(tmp_path):
    x, y = clusters(400, 2, 3, seed=1)
    data = tmp_path / "s.npz"
    np.savez(data, x_train=x, y_train=y, x_test=x[:10] + 1000, y_test=y[:10])
    ds = load({"name": "s", "format": "npz", "path": str(data), "normalize": "standard", "validation": 0.0})
    train = ds.x_train[:]
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=0), 1, atol=1e-3)
    assert ds.x_test[:].min() > 10  # the test rows are scaled with the training statistics, not their own


def test_uint8_features_stay_bytes_and_read_as_x_over_255(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 7), dtype=np.uint8)
    y = np.arange(50) % 2
    data = tmp_path / "b.npz"
    np.savez(data, x_train=x, y_train=y, x_test=x, y_test=y)
    ds = load({"name": "b", "format": "npz", "path": str(data), "validation": 0.0})
    assert ds.x_test.stored.dtype == np.uint8 and ds.x_test.nbytes == x.nbytes
    np.testing.assert_array_equal(ds.x_test[:], x.astype(np.float32) / np.float32(255))


# -- bad files: one line naming the file and the key, exit 2, no run folder ----------------------


def _npz(tmp_path, **change) -> dict:
    x, y = clusters(40, 3, 4, seed=1)
    arrays = {"x_train": x, "y_train": y, "x_test": x[:10], "y_test": y[:10], **change}
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return {"name": "bad", "format": "npz", "path": str(path)}


def _csv(tmp_path, text: str, **data) -> dict:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return {"name": "bad", "format": "csv", "path": str(path), **data}


GOOD_ROWS = "".join(f"{i % 3},{i}.5,{i * 2}\n" for i in range(12))
BAD_DATA = {
    "csv: a non-numeric cell": (lambda t: _csv(t, "label,a,b\n" + GOOD_ROWS + "1,2.0,oops\n"), ["bad.csv", "line 14", "'oops'"]),
    "csv: a float label": (lambda t: _csv(t, "label,a,b\n1.5,1,2\n" + GOOD_ROWS), ["bad.csv", "line 2", "'1.5'"]),
    "csv: no label column": (lambda t: _csv(t, "a,b,c\n" + GOOD_ROWS), ["bad.csv", "'label'"]),
    "csv: empty file": (lambda t: _csv(t, ""), ["bad.csv", "empty"]),
    "csv: ragged row": (lambda t: _csv(t, "label,a,b\n" + GOOD_ROWS + "1,2\n"), ["bad.csv", "line 14"]),
    "csv: a single class": (lambda t: _csv(t, "label,a,b\n" + "".join(f"0,{i},1\n" for i in range(9))),
                            ["bad.csv", "single class"]),
    "csv: NaN feature": (lambda t: _csv(t, "label,a,b\n" + GOOD_ROWS.replace("4.5", "nan")), ["bad.csv", "NaN"]),
    "npz: missing y_test": (lambda t: _npz(t, y_test=None), ["bad.npz", "'y_test'"]),
    "npz: float labels": (lambda t: _npz(t, y_train=np.arange(40) % 3 + 0.5), ["bad.npz: y_train", "float64"]),
    "npz: test label out of range": (lambda t: _npz(t, y_test=np.full(10, 7)), ["bad.npz: y_test", "0..2"]),
    "npz: negative label": (lambda t: _npz(t, y_train=np.arange(40) % 3 - 1), ["bad.npz: y_train", "-1"]),
    "npz: mismatched lengths": (lambda t: _npz(t, y_train=np.arange(39) % 3), ["bad.npz: y_train", "40"]),
    "npz: NaN feature": (lambda t: _npz(t, x_train=np.where(np.eye(40, 4) > 0, np.nan, 1.0)), ["bad.npz: x_train", "NaN"]),
    "npz: inf in the test features": (lambda t: _npz(t, x_test=np.full((10, 4), np.inf)), ["bad.npz: x_test", "infinite"]),
    "npz: feature counts differ": (lambda t: _npz(t, x_test=np.ones((10, 5))), ["bad.npz: x_test", "5 features"]),
    "npz: a single class": (lambda t: _npz(t, y_train=np.zeros(40, int)), ["bad.npz: y_train", "single class"]),
    "npz: empty file": (lambda t: {**_npz(t), "path": str(_empty(t / "empty.npz"))}, ["empty.npz"]),
    "npz: no rows": (lambda t: _npz(t, x_train=np.zeros((0, 4)), y_train=np.zeros(0, int)), ["bad.npz: x_train", "empty"]),
    "hdf5: dataset missing": (lambda t: _h5(t), ["bad.h5", "y_test"]),
}


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _h5(tmp_path) -> dict:
    x, y = clusters(40, 3, 4, seed=1)
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["x_train"], f["y_train"], f["x_test"] = x, y, x
    return {"name": "bad", "format": "hdf5", "path": str(path)}


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_is_refused_in_one_line_and_writes_nothing(case, tmp_path):
    make, names = BAD_DATA[case]
    spec = own_spec(tmp_path, make(tmp_path))
    line = check_refused(["train", spec, "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    for name in names:
        assert name in line, line
    assert not (tmp_path / "runs").exists()


def test_format_without_path_names_the_key(tmp_path):
    spec = own_spec(tmp_path, {"name": "x", "format": "npz"})
    assert "data.path" in check_refused(["train", spec, "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
