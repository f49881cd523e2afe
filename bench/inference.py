"""Inference time of pruned networks: shrunk against masked, CSR against dense, measured side by side.

    python -m bench.inference [--rows N] [--repeats R] [--run TRAINED_RUN] [--device cpu|gpu|auto]

Each comparison times both candidates in turn within every repeat (so they share the machine's
state) and reports medians; ratios are medians of the per-repeat ratios. Rows:

  shrink  a network with dead hidden units, as masked dense matrices vs shrunk dense matrices;
          speed-up against the FLOP reduction (efficiency = speed-up / FLOP reduction).
          Synthetic cases (a fraction of each hidden layer's units dead) always; with --run, MAAV
          one-shot pruning of that trained run at several sparsities (real dead-unit patterns).
  csr     the same masked network with its hidden layers as CSR (scipy.sparse) vs dense, at
          several sparsities; speed-up > 1 means CSR is faster.

`inference_rows()` returns the rows as dicts for the main benchmark table. scipy.sparse products run
on one thread; on a busy machine run with OPENBLAS_NUM_THREADS=1 so the dense products do too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import Rounds, interleaved
from sparana_cli.analysis.pruning import remove_to_sparsity
from sparana_cli.analysis.scores import score_layers
from sparana_cli.analysis.shrink import dense_size, shrink
from sparana_cli.engine.backend import CPU, Backend, resolve_backend
from sparana_cli.engine.network import Network
from sparana_cli.engine.sparse import CSRNetwork
from sparana_cli.seeding import generator

SIZES = [784, 1000, 1000, 1000, 10]  # the shrink experiment's network
DEAD_FRACTIONS = (0.5, 0.75, 0.9)
CSR_SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
RUN_SPARSITIES = (0.5, 0.8, 0.9, 0.95)


def side_by_side(candidates: dict, x, repeats: int, backend: Backend) -> Rounds:
    """Seconds of predict(x) for each candidate in every repeat, the candidates timed in turn."""
    for net in candidates.values():  # warm-up: first-call allocations and caches
        net.predict(x)
    backend.synchronize()

    def timed(net) -> float:
        start = time.perf_counter()
        net.predict(x)
        backend.synchronize()
        return time.perf_counter() - start

    return interleaved({name: (lambda net=net: timed(net)) for name, net in candidates.items()}, repeats, "P4")


def _medians(rounds: Rounds) -> dict[str, float]:
    return {name: statistics.median(t) for name, t in rounds.times.items()}


def _matmul_flops(sizes) -> int:
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def _shrink_row(case: str, net: Network, x, repeats: int, backend: Backend) -> dict:
    small = shrink(net)
    rounds = side_by_side({"masked": net, "shrunk": small}, x, repeats, backend)
    t = _medians(rounds)
    flop_reduction = _matmul_flops(net.sizes) / _matmul_flops(small.sizes)
    speedups = rounds.ratios("masked", "shrunk")
    speedup = statistics.median(speedups)
    return {"bench": "shrink", "case": case, "widths": "-".join(map(str, small.sizes[1:-1])),
            "baseline": "masked dense", "candidate": "shrunk dense",
            "baseline_ms": 1e3 * t["masked"], "candidate_ms": 1e3 * t["shrunk"], "speedup": speedup,
            "flop_reduction": flop_reduction, "efficiency": speedup / flop_reduction,
            "efficiencies": [s / flop_reduction for s in speedups], "rounds": rounds,
            "parameters": f"{dense_size(net.sizes)} -> {dense_size(small.sizes)}"}


def dead_unit_network(fraction: float, seed: int = 0, backend: Backend = CPU) -> Network:
    """SIZES with half its weights pruned at random and `fraction` of each hidden layer's units dead.

    Half of the dead units lose every incoming weight (they become constants), half every outgoing one.
    """
    net = Network.xavier(SIZES, seed=seed)
    rng = generator(seed, "bench-dead-units")
    for i, m in enumerate(net.masks):
        m &= rng.random(m.shape) >= 0.5
    for i in range(len(SIZES) - 2):
        width = SIZES[i + 1]
        dead = rng.permutation(width)[: round(fraction * width)]
        net.masks[i][:, dead[::2]] = False
        net.masks[i + 1][dead[1::2], :] = False
    net.apply_masks()
    return net.to(backend)


def shrink_rows(x, repeats: int, backend: Backend) -> list[dict]:
    return [_shrink_row(f"{fraction:.0%} of units dead", dead_unit_network(fraction, backend=backend), x, repeats, backend)
            for fraction in DEAD_FRACTIONS]


def run_shrink_rows(run_dir: Path, x, repeats: int, backend: Backend) -> list[dict]:
    """MAAV one-shot pruning (hidden layers, layer scope) of a trained run, scored on x, then shrunk."""
    from sparana_cli.store import runs

    trained, _ = runs.load_model(run_dir, backend)
    rows = []
    for sparsity in RUN_SPARSITIES:
        net = trained.copy()
        hidden = list(range(net.n_layers - 1))
        scores = score_layers("maav", net, x)
        gone = remove_to_sparsity([scores[i] for i in hidden], [net.masks[i] for i in hidden], sparsity)
        for i, g in zip(hidden, gone):
            net.masks[i] &= ~g
        net.apply_masks()
        rows.append(_shrink_row(f"{run_dir.name} maav {sparsity:g}", net, x, repeats, backend))
    return rows


def csr_rows(x, repeats: int, backend: Backend, seed: int = 0) -> list[dict]:
    rows = []
    for sparsity in CSR_SPARSITIES:
        net = Network.xavier(SIZES, seed=seed)
        rng = generator(seed, f"bench-csr-{sparsity}")
        for m in net.masks[:-1]:
            m &= rng.random(m.shape) >= sparsity
        net.apply_masks()
        net = net.to(backend)
        sparse = CSRNetwork(net, range(net.n_layers - 1))
        rounds = side_by_side({"dense": net, "csr": sparse}, x, repeats, backend)
        t = _medians(rounds)
        speedup = statistics.median(rounds.ratios("dense", "csr"))
        rows.append({"bench": "csr", "case": f"sparsity {sparsity:g}", "widths": "-".join(map(str, SIZES[1:-1])),
                     "baseline": "dense", "candidate": "csr",
                     "baseline_ms": 1e3 * t["dense"], "candidate_ms": 1e3 * t["csr"], "speedup": speedup,
                     "flop_reduction": 1 / (1 - sparsity), "efficiency": speedup * (1 - sparsity),
                     "time_ratios": rounds.ratios("csr", "dense"), "rounds": rounds})
    return rows


def inference_rows(*, rows: int = 5000, repeats: int = 5, run: str | Path | None = None, device: str = "cpu") -> list[dict]:
    """Every comparison as a dict: bench, case, baseline_ms, candidate_ms, speedup, flop_reduction, efficiency, ..."""
    backend = resolve_backend(device)
    x = backend.asarray(generator(0, "bench-inputs").random((rows, SIZES[0]), dtype=np.float32))
    out = shrink_rows(x, repeats, backend)
    if run is not None:
        out += run_shrink_rows(Path(run), _run_inputs(Path(run), rows, backend), repeats, backend)
    return out + csr_rows(x, repeats, backend)


def p4_rows(*, rows: int = 5000, repeats: int = 5) -> list[dict]:
    """The inference comparisons as rows of the main `python -m bench` table (see bench/__init__.py).

    Shrunk vs masked: ratio = speed-up / FLOP reduction, target >= 0.8. CSR vs dense: ratio =
    CSR time / dense time (below 1: CSR is faster), for information.
    """
    from bench.common import row

    table_rows = []
    for r in inference_rows(rows=rows, repeats=repeats):
        timing = f"{r['candidate_ms']:.1f} ms"
        if r["bench"] == "shrink":
            table_rows.append(row(f"P4 shrunk vs masked, {r['case']}", f"speed-up / FLOP cut, {rows} rows",
                                  f"{timing} shrunk {r['widths']} (x{r['speedup']:.2f})",
                                  f"{r['baseline_ms']:.1f} ms masked (FLOP cut x{r['flop_reduction']:.2f})",
                                  target=">= 0.8", ratios=r["efficiencies"], rounds=r["rounds"]))
        else:
            table_rows.append(row(f"P4 CSR vs dense, {r['case']}", f"inference time, {rows} rows", f"{timing} CSR",
                                  f"{r['baseline_ms']:.1f} ms dense", ratios=r["time_ratios"], rounds=r["rounds"]))
    return table_rows


def _run_inputs(run_dir: Path, rows: int, backend: Backend):
    """Test images of the run's dataset (repeated up to `rows`): real activity patterns for MAAV and timing."""
    from sparana_cli.data import load_dataset
    from sparana_cli.store import runs

    spec = runs.load_run_spec(run_dir)
    x = load_dataset(spec.data, spec.seed).x_test
    return backend.asarray(np.resize(x, (rows, x.shape[1])), dtype=np.float32)


def format_rows(rows: list[dict]) -> str:
    from sparana_cli.ui import table

    headers = ["bench", "case", "hidden widths", "baseline", "ms", "candidate", "ms", "speed-up", "FLOP cut", "speed-up/FLOP cut"]
    cells = [[r["bench"], r["case"], r["widths"], r["baseline"], round(r["baseline_ms"], 1), r["candidate"],
              round(r["candidate_ms"], 1), round(r["speedup"], 2), round(r["flop_reduction"], 2), round(r["efficiency"], 2)]
             for r in rows]
    return table(headers, cells)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inference", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="input rows per predict call")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per candidate (medians reported)")
    parser.add_argument("--run", default=None, help="a trained run folder: add rows for MAAV-pruned, shrunk copies of it")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu", "auto"], help="where to run")
    args = parser.parse_args(argv)
    backend = resolve_backend(args.device)
    print(f"inference on {args.rows} rows, {args.repeats} repeats (medians), {backend.describe()}; "
          f"network {'-'.join(map(str, SIZES))} unless a run is given")
    print(format_rows(inference_rows(rows=args.rows, repeats=args.repeats, run=args.run, device=args.device)))


if __name__ == "__main__":
    main()
