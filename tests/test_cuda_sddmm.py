"""The numba.cuda SDDMM kernel, run by Numba's CUDA simulator on the CPU (no GPU needed).

The simulator is chosen by NUMBA_ENABLE_CUDASIM=1 before numba.cuda is first imported, so the
check runs in a fresh interpreter.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = textwrap.dedent("""
    import numpy as np
    from numba import cuda
    assert cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else True
    from sparana_cli.engine.kernels_gpu import SDDMM_THREADS, sddmm_launch

    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        for n in (1, 9):
            a = rng.normal(size=(n, 7)).astype(dtype)
            delta = rng.normal(size=(n, 5)).astype(dtype)
            flat = np.sort(rng.choice(35, 12, replace=False))
            rows, cols = flat // 5, flat % 5
            out = np.full(12, np.nan, dtype=dtype)
            sddmm_launch(a, delta, rows, cols, out)
            expected = (a.T @ delta)[rows, cols]
            np.testing.assert_allclose(out, expected, rtol=1e-5 if dtype == "float32" else 1e-12)
            assert out.dtype == np.dtype(dtype)
    assert 12 < SDDMM_THREADS  # one block, most of its threads past the end: the bounds check is exercised
    print("sddmm ok")
""")


def test_cuda_sddmm_in_the_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "sddmm ok" in result.stdout
