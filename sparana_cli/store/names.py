"""The names of a runs folder's parts: where the runs folder is, and the files of a run folder."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_ENV = "SPARANA_RUNS"
SPEC_FILE, MODEL_FILE, METRICS_FILE = "spec.yaml", "model.h5", "metrics.h5"
TMP_SUFFIX = ".tmp"


def runs_root(option: str | None) -> Path:
    """The runs folder: --runs-dir, else $SPARANA_RUNS, else ./runs; a UserError when its path is not UTF-8 text."""
    root = option or os.environ.get(RUNS_ENV) or "runs"
    try:
        root.encode("utf-8")  # its runs record their paths (model.h5's parent), which HDF5 keeps as UTF-8
    except UnicodeEncodeError:
        from sparana_cli.errors import UserError

        shown = root.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        raise UserError(f"{'--runs-dir' if option else RUNS_ENV} {shown}: not valid UTF-8; name a folder whose path "
                        "is UTF-8 text") from None
    return Path(root)
