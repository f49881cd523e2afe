"""HDF5 files that point elsewhere (external links, virtual datasets) are refused in one line, never followed:
run files (model.h5, metrics.h5) and HDF5 data sets alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from sparana_cli.cli import main
from sparana_cli.phases.train import train
from sparana_cli.spec import spec_from_mapping
from sparana_cli.ui import Console
from tests.conftest import tiny_spec
from tests.test_cli import check_refused
from tests.test_own_data import clusters, own_spec


def point_elsewhere(path: Path, key: str, how: str, other: Path) -> None:
    """Move dataset `key` of the HDF5 file into `other` and leave in its place an external link or a virtual dataset."""
    with h5py.File(path, "a") as f:
        data = f[key][()]
        del f[key]
        with h5py.File(other, "w") as g:
            g["moved"] = data
        if how == "external link":
            f[key] = h5py.ExternalLink(str(other), "/moved")
        else:
            layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
            layout[...] = h5py.VirtualSource(str(other), "moved", shape=data.shape)
            f.create_virtual_dataset(key, layout)


@pytest.fixture
def run(idx_folder, tmp_path) -> Path:
    return Path(train(spec_from_mapping(tiny_spec(idx_folder), "s"), root=tmp_path / "runs",
                      console=Console(json_mode=True))["run"])


@pytest.mark.parametrize("how", ["external link", "virtual dataset"])
@pytest.mark.parametrize("file, key", [("model.h5", "layers/0/weights"), ("metrics.h5", "train/loss")])
def test_a_run_file_that_points_elsewhere_is_refused(run, tmp_path, how, file, key):
    point_elsewhere(run / file, key, how, tmp_path / "elsewhere.h5")
    line = check_refused(["evaluate", run, "--runs-dir", run.parent] if file == "model.h5" else
                         ["runs", "compare", run, run, "--runs-dir", run.parent], run.parent)
    assert f"{run / file}: /{key} is " in line and "elsewhere.h5" in line, line
    listing = CliRunner().invoke(main, ["runs", "--runs-dir", str(run.parent), "--json"])
    (row,) = json.loads(listing.stdout)["runs"]
    assert row["state"] == "damaged" and how.split()[0] in row["message"]


def test_a_virtual_dataset_whose_source_is_gone_is_not_read_as_zeros(run, tmp_path):
    point_elsewhere(run / "model.h5", "layers/1/weights", "virtual dataset", tmp_path / "gone.h5")
    (tmp_path / "gone.h5").unlink()  # h5py would read the fill value, 0, for every weight
    line = check_refused(["evaluate", run, "--runs-dir", run.parent], run.parent)
    assert "virtual dataset" in line and "gone.h5" in line, line


@pytest.mark.parametrize("how", ["external link", "virtual dataset"])
def test_an_hdf5_data_set_that_points_elsewhere_is_refused(tmp_path, how):
    x, y = clusters(60, 3, 4, seed=1)
    path = tmp_path / "set.h5"
    with h5py.File(path, "w") as f:
        f["x_train"], f["y_train"], f["x_test"], f["y_test"] = x, y.astype(np.uint8), x, y.astype(np.uint8)
    point_elsewhere(path, "x_test", how, tmp_path / "elsewhere.h5")
    spec = own_spec(tmp_path, {"name": "h", "format": "hdf5", "path": str(path)})
    line = check_refused(["train", spec, "--runs-dir", tmp_path / "runs"], tmp_path / "runs")
    assert f"{path}: /x_test is " in line and "elsewhere.h5" in line, line
    assert not (tmp_path / "runs").exists()


def test_a_self_contained_copy_is_read(run, tmp_path):
    """The check refuses only what points elsewhere: the same run, copied whole, evaluates."""
    copy = tmp_path / "copy" / run.name
    shutil.copytree(run, copy)
    result = CliRunner().invoke(main, ["evaluate", str(copy), "--runs-dir", str(copy.parent), "--json"])
    assert result.exit_code == 0, result.output
