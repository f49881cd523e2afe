"""`python -m bench [--quick] [--only P1,P2,...] [--threads N] [--repeats N] [--no-torch]`: print the table."""

from __future__ import annotations

import argparse
import os
import sys
import time

SECTIONS = ("startup", "commands", "numba", "P1", "P2", "P3", "P4", "onnx", "memory", "loading", "subset", "dst", "gpu")


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split(":")[1].strip())
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: tests the harness, not figures")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections among {', '.join(SECTIONS)}")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS, Numba and PyTorch threads (default: all CPUs)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of interleaved timings (default 5, 1 with --quick)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples for P1, P2, memory and loading (default 60000)")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out even when it is installed")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(unknown)}; choose among {', '.join(SECTIONS)}")
    if args.threads < 1:
        parser.error("--threads must be >= 1")
    args.repeats = args.repeats or (1 if args.quick else 5)
    args.samples = args.samples or (600 if args.quick else 60_000)
    return args


def set_threads(threads: int) -> None:
    """Thread counts for OpenBLAS, OpenMP and Numba; must run before NumPy is imported."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = str(threads)


def load_torch(threads: int, wanted: bool):
    if not wanted:
        return None
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def main(argv=None) -> int:
    args = parse(argv)
    set_threads(args.threads)
    from bench.common import machine_line, render

    torch = load_torch(args.threads, not args.no_torch)
    quick = args.quick
    rows = []
    started = time.perf_counter()
    if "startup" in args.only:
        from bench.startup import startup_rows

        rows += startup_rows(repeats=args.repeats, calls=1 if quick else 5, n_runs=3 if quick else 1000)
    if "commands" in args.only:
        from bench.commands import whole_command_rows

        rows += whole_command_rows(quick=quick, repeats=min(args.repeats, 3))
    if "numba" in args.only:
        from bench.numba_start import numba_rows

        rows += numba_rows(repeats=args.repeats)
    if "P1" in args.only:
        from bench.training import p1_rows

        rows += p1_rows(samples=args.samples, repeats=args.repeats, torch=torch, peak_size=256 if quick else 2048)
    if "P2" in args.only:
        from bench.maav import p2_rows

        rows += p2_rows(samples=args.samples, slice_rows=1 if quick else 1000, repeats=args.repeats)
    if "P3" in args.only:
        from bench.forgetting import forgetting_rows

        rows += forgetting_rows(quick=quick, repeats=min(args.repeats, 3))
    if "P4" in args.only:
        from bench.inference import p4_rows

        rows += p4_rows(rows=500 if quick else 5000, repeats=args.repeats)
    if "onnx" in args.only:
        from bench.onnx_runtime import onnx_rows

        rows += onnx_rows(rows=500 if quick else 5000, repeats=args.repeats, threads=args.threads)
    if "memory" in args.only:
        from bench.memory import memory_rows

        rows += memory_rows(samples=args.samples, test_samples=args.samples // 6 if quick else 10_000)
    if "loading" in args.only:
        from bench.loading import loading_rows

        rows += loading_rows(samples=args.samples, test_samples=args.samples // 6 if quick else 10_000,
                             repeats=args.repeats)
    if "subset" in args.only:
        from bench.training import subset_rows

        rows += subset_rows(steps=2 if quick else 40, repeats=args.repeats)
    if "dst" in args.only:
        from bench.training import dst_rows

        rows += dst_rows(steps=4 if quick else 400, repeats=args.repeats)
    if "gpu" in args.only:
        from bench.gpu import gpu_rows

        rows += gpu_rows(quick=quick, repeats=args.repeats, torch=torch)
    torch_note = f"PyTorch {torch.__version__}" if torch is not None else "PyTorch not used"
    print(f"python -m bench {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"{machine_line(args.threads)}; {torch_note}; {args.repeats} interleaved rounds: times are medians (min-max), "
          f"ratios the median (min-max) of the per-round paired ratios; {time.perf_counter() - started:.0f} s")
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
