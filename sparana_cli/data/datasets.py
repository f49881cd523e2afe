"""Loading the data set a spec names: read it in its format, check it, split off validation, fix the scaling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparana_cli.data.csv_file import read_csv_set
from sparana_cli.data.features import Features
from sparana_cli.data.hdf5_file import read_hdf5
from sparana_cli.data.home import user_path
from sparana_cli.data.idx_set import DEBIAN_FASHION_MNIST, IDX_NAMES, locate_idx_files, read_idx_set
from sparana_cli.data.labelled import LabelledData, checked
from sparana_cli.data.npz_file import read_npz
from sparana_cli.data.registry import STANDARD_SETS
from sparana_cli.data.sample import read_mnist_sample
from sparana_cli.data.scaling import Scaling, fit_scaling
from sparana_cli.errors import UserError
from sparana_cli.profile import timed
from sparana_cli.seeding import generator


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits on the host: features as stored (read as float32), labels int64."""

    name: str
    source: str  # where the arrays came from, recorded in every run
    checksum: str  # sha256 of the data as read, recorded in every run
    x_train: Features  # (n_train, features); x_train[rows] gives float32 rows
    y_train: np.ndarray  # (n_train,)
    x_val: Features
    y_val: np.ndarray
    x_test: Features
    y_test: np.ndarray
    n_classes: int = 10
    notice: str | None = None  # a warning the user must see (e.g. the small embedded sample is in use)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


@timed("data load")
def load_dataset(spec, seed: int) -> Dataset:
    """Load the data set a DataSpec describes and split off a seeded validation set (unless it has its own)."""
    data, n_classes = checked(_read(spec))
    if data.val is not None:
        train, val = Features(data.pool.x, Scaling()), Features(data.val.x, Scaling())
        y_train, y_val = data.pool.y, data.val.y
    else:
        order = generator(seed, "split").permutation(len(data.pool.y))
        n_val = int(round(spec.validation * len(data.pool.y)))
        val_rows, train_rows = order[:n_val], order[n_val:]
        train = Features(data.pool.x, Scaling(), train_rows)  # the pool's rows, not a copy (it may be memory-mapped)
        val = Features(data.pool.x, Scaling(), val_rows)
        y_train, y_val = data.pool.y[train_rows], data.pool.y[val_rows]
    scaling = fit_scaling(train.stored, train.index, spec.normalize, data.pool.x_from)
    return Dataset(
        name=spec.name,
        source=data.source,
        checksum=data.checksum,
        x_train=Features(train.stored, scaling, train.index),
        y_train=y_train,
        x_val=Features(val.stored, scaling, val.index),
        y_val=y_val,
        x_test=Features(data.test.x, scaling),
        y_test=data.test.y,
        n_classes=n_classes,
        notice=data.notice,
    )


def check_source(spec) -> None:
    """The files a DataSpec names are there (nothing is read): a UserError naming data.path otherwise.

    A sweep checks every point with this before anything starts.
    """
    if spec.format == "idx":
        if locate_idx_files(spec.name, spec.path) is None and spec.name != "mnist":
            raise _no_idx_files(spec.name)
        return
    for key, value in (("data.path", spec.path), ("data.test_path", spec.test_path)):
        if value is not None and not user_path(value, key).is_file():
            raise UserError(f"{key} {value}: file not found")


def _read(spec) -> LabelledData:
    path = user_path(spec.path, "data.path") if spec.path is not None else None
    if spec.format == "npz":
        return read_npz(path, spec.keys)
    if spec.format == "hdf5":
        return read_hdf5(path, spec.keys)
    if spec.format == "csv":
        test_path = user_path(spec.test_path, "data.test_path") if spec.test_path is not None else None
        return read_csv_set(path, test_path, spec.label_column, spec.test_fraction)
    files = locate_idx_files(spec.name, spec.path)
    if files is not None:
        return read_idx_set(files)
    if spec.name == "mnist":
        return read_mnist_sample()
    raise _no_idx_files(spec.name)


def _no_idx_files(name: str) -> UserError:
    return UserError(
        f"{name}: no IDX files found in $SPARANA_DATA/{name} (default ~/.cache/sparana/{name})"
        f"{' or ' + str(DEBIAN_FASHION_MNIST) if name == 'fashion-mnist' else ''}; "
        f"{_how_to_get(name)}or set data.path to a folder holding "
        f"{', '.join(n[0] + '[.gz]' for n in IDX_NAMES.values())}"
    )


def _how_to_get(name: str) -> str:
    hint = f"get them with 'sparana data fetch {name}', " if name in STANDARD_SETS else ""
    if name == "fashion-mnist":
        hint += "or 'apt-get install dataset-fashion-mnist' (Debian), "
    return hint
