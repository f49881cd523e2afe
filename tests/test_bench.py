"""The benchmark harness (bench/): its quickest mode runs end to end, and its pieces compute the right things.

Timings are never asserted here: the figures live in bench/RESULTS.md.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.common import Rounds, interleaved, judge, render, row
from bench.maav import per_sample_maav
from bench.training import training_flops
from sparana_cli.analysis.scores import score_layers
from sparana_cli.engine.network import Network

ROOT = Path(__file__).resolve().parent.parent


def test_quick_bench_prints_one_row_per_section():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--threads", "1", "--no-torch"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in ("Start-up: sparana --help", "Start-up: sparana runs --help", "Start-up: sparana runs, 3 runs",
                  "W forget class 0 vs retrain", "default evaluation", "where the time went",
                  "Numba: forgetting kernel's first call", "P1 784-300-100-10 SGD b128",
                  "P1 784-1000-800-400-10 Adam b250", "P2 MAAV", "P3 forget class 0",
                  "P4 shrunk vs masked", "P4 CSR vs dense", "ONNX shrunk vs dense", "Memory: sparana train", "Data loading",
                  "Subset 1% trainable", "DST rigl 10%", "DST set 10%", "DST static 10%"):
        assert label in out, label
    assert "not available: torch not installed" in out  # the torch columns are skipped, not faked
    p3 = next(line for line in out.splitlines() if line.startswith("P3"))
    assert "s forget" in p3 and "s retrain" in p3 and ">= 50" in p3  # a measurement, not a placeholder
    assert "GFLOP/s" in out and "peak RSS" in out and "peak RSS - runtime, first load" in out
    assert "second load / first" in out
    whole = next(line for line in out.splitlines() if line.startswith("W forget class 0 vs retrain"))
    assert "s forget" not in whole and "sparana train" in whole and ">= 5" in whole  # processes, not in-process seconds
    breakdown = next(line for line in out.splitlines() if "where the time went" in line)
    note = re.search(r"\[(\d+)\]\s*$", breakdown)  # a long verdict stands under the table as a numbered note
    if note:
        breakdown = next(line for line in out.splitlines() if line.startswith(f"[{note.group(1)}] "))
    assert "data load" in breakdown and "numba" not in breakdown  # the default forgetting runs no Numba kernel


def test_gpu_rows_run_on_the_cpu_backend():
    """The GPU section's code, on NumPy and the CPU: what scripts/gpu-check.sh runs on CuPy and CUDA."""
    from bench.gpu import rows_on
    from sparana_cli.engine.backend import CPU

    rows = rows_on(CPU, None, "cpu", quick=True, repeats=1)
    names = [r["row"] for r in rows]
    assert any(n.startswith("GPU 784-1000-800-400-10 Adam b250") for n in names)
    assert any(n.startswith("GPU MAAV seed model") for n in names) and "GPU forget class 0 vs retrain (cpu)" in names
    assert all(r["ratio"] > 0 for r in rows if r["verdict"] != "not available: torch not installed (pip install '.[bench]')")


def test_bench_refuses_an_unknown_section():
    result = subprocess.run([sys.executable, "-m", "bench", "--only", "P9"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "unknown section(s) P9" in result.stderr


def test_training_flops_count_the_work_actually_needed():
    n = 10
    # forward and weight gradients on 784x300, 300x100, 100x10; input gradients on the last two only
    assert training_flops([784, 300, 100, 10], n) == 2 * n * (2 * (784 * 300 + 300 * 100 + 100 * 10) + 300 * 100 + 100 * 10)


def test_per_sample_maav_is_the_closed_form():
    net = Network.xavier([12, 9, 7, 3], dtype="float64", seed=0)
    x = np.random.default_rng(0).random((25, 12))
    for slow, fast in zip(per_sample_maav(net, x), score_layers("maav", net, x)):
        np.testing.assert_allclose(slow, fast, rtol=1e-12)


def test_rows_judge_and_render():
    assert judge(0.7, "<= 0.8") == "met" and judge(0.9, "<= 0.8") == "missed"
    assert judge(250.0, ">= 200") == "met" and judge(150.0, ">= 200") == "missed"
    assert row("x", "t", "1 s", ratio=0.5, target="<= 0.8")["verdict"] == "met"
    assert row("x", "t", "1 s")["verdict"] == "info"
    text = render([row("P1 a", "epoch", "1 s", "2 s", 0.5, "<= 0.8"), {"row": "P4 b", "sparana": "3 ms", "speedup": 2}])
    lines = text.splitlines()
    assert lines[0].split()[:7] == ["row", "measure", "sparana", "reference", "ratio", "target", "verdict"]
    assert "rounds: load average; CPU s per wall s" in lines[0]
    assert "met" in lines[2] and "speedup=2" in lines[3]  # a foreign key is shown, not dropped


def test_a_ratio_is_the_median_of_paired_ratios_and_disagreeing_rounds_are_flagged():
    # one slow round of the reference (round 2) swings the ratio of medians, not the median of paired ratios
    rounds = Rounds({"ours": [1.0, 1.0, 1.1], "theirs": [2.0, 4.0, 2.2]}, load=[1.5, 3.2, 1.6], cpu_per_wall=[1.9, 1.1, 1.8])
    paired = rounds.ratios("ours", "theirs")
    assert paired == pytest.approx([0.5, 0.25, 0.5])
    r = row("P1 x", "epoch", "1 s", "2 s", target="<= 0.8", ratios=paired, rounds=rounds)
    assert r["ratio"] == pytest.approx(0.5) and r["ratio_range"] == pytest.approx((0.25, 0.5))
    assert r["verdict"].startswith("met") and "FLAG: rounds disagree by 50%" in r["verdict"]
    text = render([r])
    assert "0.5 (0.25-0.5)" in text and "load 1.5 3.2 1.6; CPU/wall 1.90 1.10 1.80" in text
    steady = row("P1 y", "epoch", "1 s", "2 s", target="<= 0.8", ratios=[0.5, 0.52, 0.48], rounds=rounds)
    assert steady["verdict"] == "met"  # 8% apart: not flagged


def test_interleaved_records_load_and_cpu_use_per_round():
    rounds = interleaved({"spin": lambda: sum(range(2_000_000)) and None, "sleep": lambda: time.sleep(0.02)}, 2)
    assert len(rounds["spin"]) == len(rounds["sleep"]) == len(rounds.load) == len(rounds.cpu_per_wall) == 2
    assert all(0 < c < os.cpu_count() + 0.5 for c in rounds.cpu_per_wall), rounds.cpu_per_wall


def test_torch_comparator_trains():
    torch = pytest.importorskip("torch")
    from bench.training import mnist_shaped, torch_epoch

    x, y = mnist_shaped(256)
    epoch = torch_epoch(torch, [784, 16, 10], "adam", 1e-3, 64, x, y)

    def loss() -> float:  # the quadratic cost the comparator minimises, on all 256 rows
        with torch.no_grad():
            out = epoch.model(torch.from_numpy(x))
            return float(0.5 * ((out - torch.eye(10)[torch.from_numpy(y).long()]) ** 2).sum(dim=1).mean())

    before = loss()
    for _ in range(5):
        epoch()
    assert loss() < 0.95 * before  # the comparator's own loop trains the network (it can fit 256 rows)


def test_a_long_verdict_goes_under_the_table_as_a_note():
    long = "missed; the forgetting's own scoring is most of the command, see the profile row"
    text = render([row("W x", "wall", "1 s", "2 s", 0.5, "<= 0.8", verdict=long), row("W y", "wall", "1 s", verdict="met")])
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines[:4]) < 120  # the table itself stays narrow
    assert "missed [1]" in lines[2] and lines[4] == f"[1] W x, verdict: {long}"
