"""Features held as stored and read as float32 per batch; the decoded-data cache behind a second load."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sparana_cli.data import load_dataset
from sparana_cli.data.features import Features
from sparana_cli.data.scaling import Scaling
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.spec import DataSpec, TrainSpec
from tests.conftest import IDX_NAMES, write_idx_folder


def test_training_on_bytes_gives_the_weights_of_training_on_their_floats():
    rng = np.random.default_rng(0)
    stored = rng.integers(0, 256, (300, 36), dtype=np.uint8)
    labels = rng.integers(0, 10, 300)
    floats = stored.astype(np.float32)
    floats /= np.float32(255)  # the whole-array conversion Sparana made before data were held as bytes
    nets = []
    for x in (floats, Features(stored, Scaling(divisor=np.float32(255)), np.arange(300))):
        net = Network.xavier([36, 20, 10], seed=4)
        Trainer(net, TrainSpec(batch_size=32, lr=0.01), loss="quadratic", seed=4).epoch(x, labels, 0)
        nets.append(net)
    for a, b in zip(nets[0].weights, nets[1].weights):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(nets[0].weights[0], Network.xavier([36, 20, 10], seed=4).weights[0])  # it trained


def test_features_index_rows_of_the_stored_array_without_copying_it():
    stored = np.arange(20, dtype=np.uint8).reshape(10, 2)
    x = Features(stored, Scaling(shift=np.float32(1), divisor=np.float32(2)), np.array([7, 2, 5]))
    assert x.shape == (3, 2) and len(x) == 3 and x.stored is stored
    np.testing.assert_array_equal(x[1:], (stored[[2, 5]].astype(np.float32) - 1) / 2)
    out = np.zeros((2, 2), np.float64)
    x.fill_rows(np.array([0, 2]), out)
    np.testing.assert_array_equal(out, (stored[[7, 5]] - 1.0) / 2)


def test_a_second_load_is_memory_mapped_from_the_cache_and_identical(idx_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("SPARANA_DATA", str(tmp_path / "home"))
    first = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    assert not isinstance(first.x_test.stored, np.memmap)
    assert len(list((tmp_path / "home" / "decoded").iterdir())) == 1
    second = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    assert isinstance(second.x_test.stored, np.memmap) and isinstance(second.x_train.stored, np.memmap)
    assert second.checksum == first.checksum
    for split in ("x_train", "x_val", "x_test"):
        np.testing.assert_array_equal(getattr(second, split)[:], getattr(first, split)[:])
    np.testing.assert_array_equal(second.y_train, first.y_train)


def test_a_changed_file_is_decoded_again(idx_folder, monkeypatch, tmp_path):
    monkeypatch.setenv("SPARANA_DATA", str(tmp_path / "home"))
    before = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    write_idx_folder(tmp_path / "other", n_test=50)
    changed = idx_folder / (IDX_NAMES["test_labels"] + ".gz")
    for role in ("test_images", "test_labels"):
        os.replace(tmp_path / "other" / (IDX_NAMES[role] + ".gz"), idx_folder / (IDX_NAMES[role] + ".gz"))
    os.utime(changed, ns=(1, 1))
    after = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    assert len(after.y_test) == 50 and after.checksum != before.checksum
    assert len(list((tmp_path / "home" / "decoded").iterdir())) == 2


def test_an_unwritable_cache_is_skipped(idx_folder, monkeypatch, tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("SPARANA_DATA", str(blocked))  # home is a file: the cache cannot be made
    ds = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    assert len(ds.y_test) == 100


@pytest.mark.parametrize("mode", ["unit", "standard", "none"])
def test_every_split_reads_through_the_training_scaling(mode, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(50, 10, (80, 3))
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x, y_train=np.arange(80) % 2, x_test=x[:5], y_test=np.arange(5) % 2)
    ds = load_dataset(DataSpec(name="d", format="npz", path=str(path), normalize=mode), seed=0)
    assert ds.x_test[:].dtype == np.float32
    rows = {tuple(r) for r in np.concatenate([ds.x_train[:], ds.x_val[:]])}
    assert all(tuple(r) in rows for r in ds.x_test[:])  # the test rows are training rows: scaled the same
