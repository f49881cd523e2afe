"""GPU rows: a training epoch on CuPy against PyTorch CUDA eager, MAAV against the GPU's matmul peak,
forgetting against retraining on the GPU.

`python -m bench --only gpu` (scripts/gpu-check.sh runs it) needs CuPy and a GPU; without one
the section is a single 'not available' row. The rows are built by `rows_on(backend, torch,
torch_device)`, so the harness test runs the same code on NumPy and the CPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import interleaved, row, spread, unavailable
from bench.forget import Quiet, forget_rows
from bench.maav import SEED_MODEL
from bench.training import NETS, mnist_shaped, torch_epoch, training_flops
from sparana_cli.analysis.scores import score_layers
from sparana_cli.engine.backend import Backend, resolve_backend
from sparana_cli.engine.network import Network
from sparana_cli.engine.training import Trainer
from sparana_cli.errors import UserError
from sparana_cli.spec import TrainSpec

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "mnist.yaml"


def device_matmul_gflops(backend: Backend, size: int, calls: int = 3) -> float:
    """The best float32 GFLOP/s of size x size products on the backend's device."""
    xp = backend.xp
    a = backend.asarray(xp.ones((size, size), dtype=xp.float32))
    out = xp.empty_like(a)
    xp.matmul(a, a, out=out)
    backend.synchronize()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        xp.matmul(a, a, out=out)
        backend.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def epoch_rows(backend: Backend, torch, torch_device: str, *, samples: int, repeats: int, peak_size: int) -> list[dict]:
    x, y = mnist_shaped(samples)
    xd, yd = backend.asarray(x), backend.asarray(y)
    rows = []
    for label, sizes, optimizer, lr, batch in NETS:
        trainer = Trainer(Network.xavier(sizes, seed=0, backend=backend), TrainSpec(optimizer=optimizer, lr=lr, batch_size=batch),
                          loss="quadratic", seed=0)
        trainer.epoch(xd[:2 * batch], yd[:2 * batch], 0)  # warm-up: kernels compiled, memory pool filled
        backend.synchronize()
        epochs = iter(range(1, 10**6))
        peaks = []

        def ours(trainer=trainer, epochs=epochs):
            trainer.epoch(xd, yd, next(epochs))
            backend.synchronize()

        cases = {"peak": lambda: peaks.append(device_matmul_gflops(backend, peak_size)), "sparana": ours}
        if torch is not None:
            cases["torch"] = torch_epoch(torch, sizes, optimizer, lr, batch, x, y, device=torch_device)
        times = interleaved(cases, repeats, f"GPU {label}")
        name = f"GPU {label} ({backend.describe()})"
        if torch is not None:
            rows.append(row(name, f"epoch of {samples:,}", spread(times["sparana"]),
                            f"PyTorch eager on {torch_device} {spread(times['torch'])}", target="<= 0.8",
                            ratios=times.ratios("sparana", "torch"), rounds=times))
        else:
            rows.append(row(name, f"epoch of {samples:,}", spread(times["sparana"]),
                            verdict="not available: torch not installed (pip install '.[bench]')"))
        rates = [training_flops(sizes, samples) / t / 1e9 for t in times["sparana"]]
        rows.append(row(name, "GFLOP/s", spread(rates, "GFLOP/s"), f"matmul peak {spread(peaks, 'GFLOP/s')}",
                        ratios=[r / p for r, p in zip(rates, peaks)], rounds=times))
    return rows


def maav_rows(backend: Backend, *, samples: int, repeats: int, peak_size: int) -> list[dict]:
    x, _ = mnist_shaped(samples, seed=2)
    xd = backend.asarray(x)
    net = Network.xavier(SEED_MODEL, seed=0, backend=backend)
    score_layers("maav", net, xd[:10])
    backend.synchronize()
    peaks = []

    def closed():
        score_layers("maav", net, xd)
        backend.synchronize()

    times = interleaved({"closed": closed, "peak": lambda: peaks.append(device_matmul_gflops(backend, peak_size))},
                        repeats, "GPU MAAV")
    flops = 2.0 * samples * sum(a * b for a, b in zip(SEED_MODEL[:-1], SEED_MODEL[1:]))
    rates = [flops / t / 1e9 for t in times["closed"]]
    return [row(f"GPU MAAV seed model, {samples:,} samples", "GFLOP/s (fraction of the matmul peak)",
                f"{spread(times['closed'])}, {spread(rates, 'GFLOP/s')}", f"matmul peak {spread(peaks, 'GFLOP/s')}",
                target=">= 0.8", ratios=[r / p for r, p in zip(rates, peaks)], rounds=times)]


def forgetting_rows_on(device: str, *, overrides: list[str], classes: list[int], repeats: int) -> list[dict]:
    from sparana_cli.phases.train import train
    from sparana_cli.spec import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        trained = train(load_spec(CONFIG, [*overrides, f"device={device}"]), root=Path(tmp), console=Quiet())
        measured = forget_rows(Path(trained["run"]), classes, repeats, device)
    return [row(f"GPU forget class {r['class']} vs retrain ({device})", "seconds in one process (medians, in turns)",
                f"{r['default_s']:.3f} s forget", f"{r['retrain_s']:.2f} s retrain", target=">= 50",
                ratios=r["default_ratios"], rounds=r["rounds"]) for r in measured]


def rows_on(backend: Backend, torch, torch_device: str, *, quick: bool, repeats: int) -> list[dict]:
    samples, peak = (1000, 256) if quick else (60_000, 8192)
    return (epoch_rows(backend, torch, torch_device, samples=samples, repeats=repeats, peak_size=peak)
            + maav_rows(backend, samples=samples, repeats=repeats, peak_size=peak)
            + forgetting_rows_on(backend.name, overrides=["train.epochs=1", "model.hidden=[32,16]"] if quick else [],
                                 classes=[0] if quick else [0, 3, 7], repeats=1 if quick else min(repeats, 3)))


def gpu_rows(*, quick: bool, repeats: int, torch) -> list[dict]:
    """The GPU rows, or one 'not available' row saying why there are none."""
    try:
        backend = resolve_backend("gpu")
    except UserError as err:
        return [unavailable("GPU rows", str(err))]
    if torch is not None and not torch.cuda.is_available():
        torch = None  # a CPU build of PyTorch: the rows say the comparator is missing
    return rows_on(backend, torch, "cuda", quick=quick, repeats=repeats)
