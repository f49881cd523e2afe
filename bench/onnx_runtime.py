"""Inference in onnxruntime of a shrunk network against its dense (masked, full-width) form, side by side.

    python -m bench.onnx_runtime [--rows N] [--repeats R] [--threads T] [--run CHILD_RUN]...

Both networks are written as `sparana export --format onnx` writes them (formats/onnx.py) and run
in one onnxruntime session each on the same rows, taking turns in every round; times are medians,
the speed-up the median of the per-round paired ratios, set beside the FLOP cut. Cases: the
synthetic dead-unit networks of bench/inference.py, and with --run a pruned, shrunk run against
the same network at its parent's widths (the removed units put back as zero weights: the dense
form it had before shrinking, giving the same outputs). Sparana's own NumPy predict of the shrunk
network is timed in the same rounds, for reference. `onnx_rows()` gives the main table's rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import Rounds, interleaved, row
from bench.inference import DEAD_FRACTIONS, SIZES, _matmul_flops, dead_unit_network
from sparana_cli.analysis.shrink import shrink
from sparana_cli.engine.network import Network
from sparana_cli.formats.onnx import INPUT, onnx_model
from sparana_cli.seeding import generator


def session(net: Network, threads: int):
    """An onnxruntime session of the network's exported graph, on `threads` CPU threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    graph = onnx_model(net.weights, net.biases, net.output, {}, "bench inputs")
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])


def compare(case: str, dense: Network, small: Network, x: np.ndarray, repeats: int, threads: int) -> dict:
    """Timings of the dense and the shrunk graph in onnxruntime (and of NumPy's shrunk predict) on x, interleaved."""
    sessions = {"dense": session(dense, threads), "shrunk": session(small, threads)}
    outputs = {name: s.run(None, {INPUT: x})[0] for name, s in sessions.items()}  # warm-up, and the check below
    difference = float(np.abs(outputs["dense"] - outputs["shrunk"]).max())

    def timed(call) -> float:
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    cases = {name: (lambda s=s: timed(lambda: s.run(None, {INPUT: x}))) for name, s in sessions.items()}
    cases["numpy shrunk"] = lambda: timed(lambda: small.predict(x))
    rounds = interleaved(cases, repeats, f"onnx {case}")
    t = {name: statistics.median(v) for name, v in rounds.times.items()}
    return {"case": case, "dense_widths": "-".join(map(str, dense.sizes[1:-1])),
            "shrunk_widths": "-".join(map(str, small.sizes[1:-1])), "dense_ms": 1e3 * t["dense"],
            "shrunk_ms": 1e3 * t["shrunk"], "numpy_shrunk_ms": 1e3 * t["numpy shrunk"],
            "speedups": rounds.ratios("dense", "shrunk"),
            "flop_reduction": _matmul_flops(dense.sizes) / _matmul_flops(small.sizes),
            "max_abs_difference": difference, "rounds": rounds}


def synthetic_cases(x: np.ndarray, repeats: int, threads: int) -> list[dict]:
    out = []
    for fraction in DEAD_FRACTIONS:
        dense = dead_unit_network(fraction)
        out.append(compare(f"{fraction:.0%} of units dead", dense, shrink(dense), x, repeats, threads))
    return out


def widened(net: Network, sizes: list[int]) -> Network:
    """net at the given (larger) widths, the added units with zero weights in and out and zero bias: same outputs."""
    weights, biases = [], []
    for w, b, (n_in, n_out) in zip(net.weights, net.biases, zip(sizes[:-1], sizes[1:])):
        big = np.zeros((n_in, n_out), w.dtype)
        big[:w.shape[0], :w.shape[1]] = w
        weights.append(big)
        biases.append(np.concatenate([b, np.zeros(n_out - len(b), b.dtype)]))
    return Network(weights, biases, output=net.output)


def run_case(child: Path, rows: int, repeats: int, threads: int) -> dict:
    """A pruned, shrunk run against itself at its parent's widths, on the run's test images (repeated up to `rows`)."""
    from sparana_cli.data import load_dataset
    from sparana_cli.store import runs

    small, attrs = runs.load_model(child)
    parent, _ = runs.load_model(Path(attrs["parent"]))
    dense = widened(small, parent.sizes)
    spec = runs.load_run_spec(child)
    test = load_dataset(spec.data, spec.seed).x_test
    x = np.resize(np.asarray(test[np.arange(len(test))], dtype=np.float32), (rows, test.shape[1]))
    return compare(child.name, dense, small, x, repeats, threads)


def onnx_cases(*, rows: int = 5000, repeats: int = 5, threads: int = 1, runs: tuple = ()) -> list[dict]:
    x = generator(0, "bench-inputs").random((rows, SIZES[0]), dtype=np.float32)
    return synthetic_cases(x, repeats, threads) + [run_case(Path(r), rows, repeats, threads) for r in runs]


def onnx_rows(*, rows: int = 5000, repeats: int = 5, threads: int = 1) -> list[dict]:
    """The comparisons as rows of the main `python -m bench` table: ratio = speed-up / FLOP cut, for information."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        from bench.common import unavailable

        return [unavailable("ONNX shrunk vs dense", "onnxruntime is not installed (pip install '.[onnx]')")]
    out = []
    for r in onnx_cases(rows=rows, repeats=repeats, threads=threads):
        rounds: Rounds = r["rounds"]
        out.append(row(f"ONNX shrunk vs dense, {r['case']}", f"onnxruntime inference, {rows} rows",
                       f"{r['shrunk_ms']:.1f} ms shrunk {r['shrunk_widths']} (x{statistics.median(r['speedups']):.2f})",
                       f"{r['dense_ms']:.1f} ms dense (FLOP cut x{r['flop_reduction']:.2f})",
                       ratios=[s / r["flop_reduction"] for s in r["speedups"]], rounds=rounds))
    return out


def format_cases(cases: list[dict]) -> str:
    from sparana_cli.ui import table

    headers = ["case", "dense widths", "shrunk widths", "ORT dense ms", "ORT shrunk ms", "speed-up (min-max)",
               "FLOP cut", "NumPy shrunk ms", "max |dense - shrunk|"]
    cells = [[c["case"], c["dense_widths"], c["shrunk_widths"], round(c["dense_ms"], 2), round(c["shrunk_ms"], 2),
              f"{statistics.median(c['speedups']):.2f} ({min(c['speedups']):.2f}-{max(c['speedups']):.2f})",
              round(c["flop_reduction"], 2), round(c["numpy_shrunk_ms"], 2), f"{c['max_abs_difference']:.1g}"]
             for c in cases]
    return table(headers, cells)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.onnx_runtime", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="input rows per inference call")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (medians reported)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--run", action="append", default=[], metavar="CHILD_RUN",
                        help="a pruned, shrunk run: timed against itself at its parent's widths (repeatable)")
    args = parser.parse_args(argv)
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, {args.threads} thread(s), {args.rows} rows, {args.repeats} interleaved "
          f"rounds; synthetic networks {'-'.join(map(str, SIZES))}")
    print(format_cases(onnx_cases(rows=args.rows, repeats=args.repeats, threads=args.threads, runs=tuple(args.run))))


if __name__ == "__main__":
    main()
