"""Data loading: a second command's load_dataset (decoded arrays memory-mapped from the cache) against the first's."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import median, row, spread
from bench.memory import write_mnist_shaped_idx
from sparana_cli.data import load_dataset
from sparana_cli.data.idx_set import DEBIAN_FASHION_MNIST
from sparana_cli.spec import DataSpec


def loading_rows(*, samples: int, test_samples: int, repeats: int) -> list[dict]:
    """Median seconds of a first load (gzip, IDX parsing, checksum, writing the cache) and a second (the cache)."""
    fashion = samples == 60_000 and test_samples == 10_000 and DEBIAN_FASHION_MNIST.is_dir()
    first, second = [], []
    with tempfile.TemporaryDirectory(prefix="sparana-bench-load-") as tmp:
        tmp = Path(tmp)
        if fashion:
            spec = DataSpec(name="fashion-mnist")
        else:
            write_mnist_shaped_idx(tmp / "data", samples, test_samples)
            spec = DataSpec(path=str(tmp / "data"))
        saved = os.environ.get("SPARANA_DATA")
        try:
            for round_ in range(repeats):
                os.environ["SPARANA_DATA"] = str(tmp / f"home-{round_}")  # an empty cache each round
                for times in (first, second):
                    start = time.perf_counter()
                    load_dataset(spec, seed=0)
                    times.append(time.perf_counter() - start)
        finally:
            if saved is None:
                os.environ.pop("SPARANA_DATA", None)
            else:
                os.environ["SPARANA_DATA"] = saved
    what = "Fashion-MNIST (Debian's gzipped IDX files)" if fashion else "MNIST-shaped random gzipped IDX files"
    name = f"Data loading: {what}, {samples:,} + {test_samples:,} samples"
    return [row(name, "second load / first", spread(second, "s", digits=2), f"first {spread(first, 's', digits=2)}",
                median(second) / median(first), "<= 0.05")]
