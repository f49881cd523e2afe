"""The numba.cuda kernels, run by Numba's CUDA simulator on the CPU (no GPU needed), against the CPU kernels.

The simulator is chosen by NUMBA_ENABLE_CUDASIM=1 before numba.cuda is first imported, so the
check runs in a fresh interpreter. It works with the numba.cuda built into Numba and with the
numba-cuda package of the [gpu] extra; if neither can load, the check fails rather than skips.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent("""
    import numpy as np
    from sparana_cli.engine import kernels_cpu
    from sparana_cli.engine.kernels_gpu import SDDMM_THREADS, sddmm_kernel, sddmm_launch

    # the kernel object is the simulator's: nothing here needs a GPU, and nothing silently ran elsewhere
    assert type(sddmm_kernel).__module__.startswith("numba.cuda.simulator"), type(sddmm_kernel).__module__

    rng = np.random.default_rng(0)
    cases = 0
    for dtype in ("float32", "float64"):
        for n, n_in, n_out, k in ((1, 7, 5, 12), (9, 7, 5, 12), (33, 20, 11, 150), (4, 3, 2, 0)):
            a = rng.normal(size=(n, n_in)).astype(dtype)
            a[a < 0] = 0  # ReLU inputs, as in training
            delta = rng.normal(size=(n, n_out)).astype(dtype)
            flat = np.sort(rng.choice(n_in * n_out, k, replace=False))
            rows, cols = flat // n_out, flat % n_out
            on_gpu = np.full(k, np.nan, dtype=dtype)
            sddmm_launch(a, delta, rows, cols, on_gpu)
            on_cpu = np.full(k, np.nan, dtype=dtype)
            kernels_cpu.sddmm(a, delta, rows, cols, on_cpu)
            np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-5 if dtype == "float32" else 1e-12, atol=1e-6)
            np.testing.assert_allclose(on_gpu, (a.T @ delta)[rows, cols], rtol=1e-5 if dtype == "float32" else 1e-12,
                                       atol=1e-6)
            assert on_gpu.dtype == np.dtype(dtype)
            cases += 1
    assert 12 < SDDMM_THREADS < 150  # one block mostly past the end, and a case of two blocks: bounds checked
    print(f"sddmm ok: {cases} cases")
""")


def test_cuda_sddmm_in_the_simulator_matches_the_cpu_kernel():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "sddmm ok: 8 cases" in result.stdout
