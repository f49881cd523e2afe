"""Whole commands on CuPy (device gpu) against the same commands on NumPy: train, evaluate, prune, forget.

These run only where CuPy finds a GPU (scripts/gpu-check.sh runs them); elsewhere they are
skipped with the reason. The kernels themselves are compared one by one in test_kernels.py
(the `backend` fixture) and, for numba.cuda, in Numba's simulator (test_cuda_sddmm.py).
"""

from pathlib import Path

import h5py
import numpy as np
import pytest

from sparana_cli.engine.backend import _cupy
from tests.test_cli import invoke, train_json

pytestmark = pytest.mark.skipif(_cupy() is None, reason="no GPU answers (CuPy missing or no CUDA device)")


def run_json(*args) -> dict:
    import json

    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def masks(run: str) -> list[np.ndarray]:
    with h5py.File(Path(run) / "model.h5") as f:
        return [f[f"layers/{i}/mask"][()] for i in range(len(f["layers"]))]


def test_training_on_the_gpu_learns_as_on_the_cpu(spec_file, runs_dir):
    cpu = train_json(spec_file, runs_dir, "device=cpu")
    gpu = train_json(spec_file, runs_dir, "device=gpu")
    assert gpu["test_accuracy"] > 0.8
    assert abs(gpu["test_accuracy"] - cpu["test_accuracy"]) < 0.1  # same data, init and schedule; float order differs


def test_evaluate_prune_and_forget_on_the_gpu_match_the_cpu(spec_file, runs_dir):
    parent = train_json(spec_file, runs_dir, "device=cpu")["run"]
    on = {device: run_json("evaluate", parent, "--device", device, "--runs-dir", runs_dir) for device in ("cpu", "gpu")}
    assert on["gpu"]["accuracy"] == pytest.approx(on["cpu"]["accuracy"], abs=0.02)

    pruned = {device: run_json("prune", "--run", parent, "--method", "maav", "--sparsity", "0.5", "--device", device,
                               "--runs-dir", runs_dir) for device in ("cpu", "gpu")}
    agree = [np.mean(c == g) for c, g in zip(masks(pruned["cpu"]["run"]), masks(pruned["gpu"]["run"]))]
    assert min(agree) > 0.99  # the same weights go, up to ties in float rounding

    forgot = {device: run_json("forget", "--class", "3", "--run", parent, "--evaluate", "none", "--device", device,
                               "--runs-dir", runs_dir) for device in ("cpu", "gpu")}
    assert forgot["gpu"]["df_before"] == pytest.approx(forgot["cpu"]["df_before"], abs=0.02)
    assert forgot["gpu"]["df_after"] <= forgot["cpu"]["df_after"] + 0.1 < forgot["gpu"]["df_before"]
    assert forgot["gpu"]["dr_after"] == pytest.approx(forgot["cpu"]["dr_after"], abs=0.1)
    assert forgot["gpu"]["removed_fraction"] == pytest.approx(forgot["cpu"]["removed_fraction"], rel=0.25)
