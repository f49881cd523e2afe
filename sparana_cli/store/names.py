"""The names of a runs folder's parts: where the runs folder is, and the files of a run folder."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "SPARANA_RUNS"
SPEC_FILE, MODEL_FILE, METRICS_FILE = "spec.yaml", "model.h5", "metrics.h5"
TMP_SUFFIX = ".tmp"


def runs_root(option: str | None) -> Path:
    """The runs folder: --runs-dir, else $SPARANA_RUNS, else ./runs."""
    return Path(option or os.environ.get(RUNS_ENV) or "runs")
