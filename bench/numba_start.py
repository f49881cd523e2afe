"""What the forgetting kernel's first call costs in a new process, part by part (the kernel cached on disk).

A child interpreter imports NumPy, then Numba with the CPU kernels, calls taylor_margin on
seed-model-sized arrays (1000 x 800, 90 scoring rows) three times, and reports each step:
the first call holds Numba's once-per-process start-up (its typing and lowering registries and
SciPy's BLAS) and the kernel's typing and cache load; the second is a warm call. A first call of
another kernel afterwards shows what one more kernel adds.
"""

from __future__ import annotations

import json

from bench.common import interleaved, median, row, spread
from bench.processes import python, run

CHILD = """
import json, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
from sparana_cli.engine import kernels_cpu as k
t2 = time.perf_counter()
rng = np.random.default_rng(0)
n_in, n_out, rows = 1000, 800, 90
gain, w = rng.standard_normal((2, n_in, n_out), dtype=np.float32)
live = np.ones((n_in, n_out), bool)
a = np.maximum(rng.standard_normal((rows, n_in), dtype=np.float32), 0)
d = rng.standard_normal((rows, n_out), dtype=np.float32)
out, starts = np.empty_like(w), np.arange(0, rows + 1, 10)
t3 = time.perf_counter(); k.taylor_margin(gain, w, live, a, d, starts, out)
t4 = time.perf_counter(); k.taylor_margin(gain, w, live, a, d, starts, out)
t5 = time.perf_counter(); k.bias_relu(np.ones((4, 3), np.float32), np.ones(3, np.float32))
t6 = time.perf_counter()
print(json.dumps({"numpy": t1 - t0, "numba": t2 - t1, "first": t4 - t3, "warm": t5 - t4, "another": t6 - t5}))
"""


def numba_rows(*, repeats: int) -> list[dict]:
    run(python("-c", CHILD))  # the kernels into Numba's on-disk cache, as after any first use
    parts: dict[str, list[float]] = {}

    def child() -> float:
        report = json.loads(run(python("-c", CHILD)).stdout.splitlines()[-1])
        for name, seconds in report.items():
            parts.setdefault(name, []).append(seconds)
        return report["first"]

    times = interleaved({"child": child}, repeats, "numba first call")
    start_up = [f - w for f, w in zip(parts["first"], parts["warm"])]
    return [row("Numba: forgetting kernel's first call in a new process", "seconds (kernel cached on disk)",
                f"first call {spread(parts['first'])}", f"warm call {spread(parts['warm'], 'ms', 1e3)}",
                ratios=[f / w for f, w in zip(parts["first"], parts["warm"])], rounds=times,
                verdict=f"info: importing Numba and the kernels {spread(parts['numba'])}; first call less a warm call "
                        f"{median(start_up):.3f} s (Numba's start-up, typing, cache load); one more kernel's first "
                        f"call {spread(parts['another'], 'ms', 1e3)}")]
