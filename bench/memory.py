"""Memory: peak RSS of a real `sparana train` run on 60,000 samples vs the bytes it must hold."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.common import row
from sparana_cli.data.idx import write_idx

ROOT = Path(__file__).resolve().parent.parent
SEED_MODEL = [784, 1000, 800, 400, 10]
MB = 2**20

# Each child reports its own high-water mark (VmHWM) at exit. The rusage of a child is no good:
# Linux carries the parent's peak into a child across fork and exec.
REPORT_PEAK = """
import atexit, os, runpy, sys
def report():
    status = open("/proc/self/status").read()
    peak = status.split("VmHWM:")[1].split()[0]
    open(os.environ["SPARANA_BENCH_PEAK"], "w").write(peak)
atexit.register(report)
"""

TRAIN = REPORT_PEAK + """
sys.argv = ["sparana"] + sys.argv[1:]
runpy.run_module("sparana_cli", run_name="__main__")
"""

RUNTIME_ONLY = REPORT_PEAK + """
import numpy as np
import sparana_cli.cli, sparana_cli.phases.train
from sparana_cli.engine.backend import CPU
CPU.kernels.bias_relu(np.zeros((2, 4), np.float32), np.zeros(4, np.float32))  # starts Numba and loads a kernel, as training does
"""


def peak_rss(code: str, args: list[str], folder: Path) -> int:
    """Peak resident bytes of a child Python running `code` with `args`."""
    log, report = folder / "child.log", folder / "peak.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARANA_BENCH_PEAK": str(report)}
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child {args} failed:\n{log.read_text()[-2000:]}")
    return int(report.read_text()) * 1024  # /proc reports kB


def write_mnist_shaped_idx(folder: Path, n_train: int, n_test: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, count in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{name}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{name}-labels-idx1-ubyte", rng.integers(0, 10, count).astype(np.uint8))


def payload_bytes(n_train: int, n_test: int) -> dict[str, int]:
    """What the run must hold: float32 pixels and int64 labels of every split, the model, Adam's two moments."""
    weights = sum(a * b for a, b in zip(SEED_MODEL[:-1], SEED_MODEL[1:]))
    params = weights + sum(SEED_MODEL[1:])
    samples = n_train + n_test
    return {"data": samples * (784 * 4 + 8), "model": params * 4 + weights, "optimizer": 2 * params * 4}  # masks: 1 byte


def memory_rows(*, samples: int, test_samples: int = 10_000) -> list[dict]:
    """Peak RSS of `sparana train configs/mnist.yaml` (one epoch) on MNIST-shaped IDX files, and of the runtime alone."""
    with tempfile.TemporaryDirectory(prefix="sparana-bench-") as tmp:
        tmp = Path(tmp)
        write_mnist_shaped_idx(tmp / "data", samples, test_samples)
        train = ["train", "configs/mnist.yaml", "train.epochs=1", f"data.path={tmp / 'data'}", "device=cpu",
                 "--runs-dir", str(tmp / "runs"), "--json"]
        peak = peak_rss(TRAIN, train, tmp)
        runtime = peak_rss(RUNTIME_ONLY, [], tmp)
    parts = payload_bytes(samples, test_samples)
    payload = sum(parts.values())
    held = " + ".join(f"{k} {v / MB:.0f}" for k, v in parts.items())
    name = f"Memory: sparana train, seed model Adam, {samples:,} + {test_samples:,} test samples"
    return [
        row(name, "peak RSS", f"{peak / MB:.0f} MB", f"held {payload / MB:.0f} MB ({held})", peak / payload, "<= 1.5"),
        row(name, "peak RSS - runtime", f"{(peak - runtime) / MB:.0f} MB",
            f"runtime alone {runtime / MB:.0f} MB (Python, NumPy, h5py, Numba/LLVM)", (peak - runtime) / payload,
            verdict="info: what the run adds to an idle interpreter, per byte held"),
    ]
