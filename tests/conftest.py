"""Shared fixtures: a tiny learnable IDX dataset and specs that train on it in a fraction of a second."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from sparana_cli.data.idx import write_idx
from sparana_cli.engine.backend import CPU, resolve_backend
from sparana_cli.errors import UserError

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def make_images(n: int, seed: int, side: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images where each class lights its own fixed set of pixels: easy to learn."""
    prototypes = np.random.default_rng(12345).random((10, side * side)) > 0.6
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    pixels = prototypes[labels] * 200 + rng.integers(0, 55, (n, side * side))
    return pixels.reshape(n, side, side).astype(np.uint8), labels.astype(np.uint8)


def refused(call, *args, **kwargs) -> str:
    """The one-line message of the UserError that call(*args, **kwargs) raises (the test fails if it raises none)."""
    with pytest.raises(UserError) as info:
        call(*args, **kwargs)
    return str(info.value)


def write_idx_folder(folder: Path, n_train=300, n_test=100, gz=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    x, y = make_images(n_train, seed=1)
    xt, yt = make_images(n_test, seed=2)
    ext = ".gz" if gz else ""
    for role, array in {"train_images": x, "train_labels": y, "test_images": xt, "test_labels": yt}.items():
        write_idx(folder / (IDX_NAMES[role] + ext), array)
    return folder


@pytest.fixture(autouse=True)
def private_data_home(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's ~/.cache/sparana (downloads, decoded-data cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def idx_folder(tmp_path) -> Path:
    return write_idx_folder(tmp_path / "data")


def tiny_spec(data_path: Path, **sections) -> dict:
    spec = {
        "name": "tiny",
        "seed": 3,
        "device": "cpu",
        "data": {"name": "mnist", "path": str(data_path), "validation": 0.2},
        "model": {"hidden": [24, 16]},
        "train": {"optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 3},
    }
    for key, value in sections.items():
        spec.setdefault(key, {}).update(value) if isinstance(value, dict) else spec.__setitem__(key, value)
    return spec


@pytest.fixture
def spec_file(tmp_path, idx_folder) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(idx_folder)))
    return path


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    return tmp_path / "runs"


REAL_GPU = os.environ.get("SPARANA_TEST_GPU", "fake") == "real"  # scripts/gpu-check.sh sets it


@pytest.fixture
def fake_cupy(monkeypatch):
    """The strict CuPy stand-in of tests/fakecupy, installed as `cupy` for one test."""
    import tests.fakecupy as fakecupy

    fakecupy.install(monkeypatch)
    yield fakecupy
    monkeypatch.undo()
    fakecupy.forget_backends()


@pytest.fixture
def gpu(request):
    """The gpu backend: the strict CuPy stand-in (tests/fakecupy), or real CuPy with SPARANA_TEST_GPU=real."""
    if not REAL_GPU:
        request.getfixturevalue("fake_cupy")
    try:
        return resolve_backend("gpu")
    except UserError as err:
        pytest.fail(f"SPARANA_TEST_GPU=real: {err}")


@pytest.fixture(params=["cpu", "gpu"])
def backend(request):
    """Each test body once on NumPy and once on the gpu backend (the CuPy stand-in, or real CuPy: see `gpu`)."""
    if request.param == "cpu":
        return CPU
    return request.getfixturevalue("gpu")


@pytest.fixture
def xp(backend):
    """The array module of `backend`: numpy or cupy."""
    return backend.xp
