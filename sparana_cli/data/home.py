"""Where downloaded and decoded data live: $SPARANA_DATA, by default ~/.cache/sparana."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The data folder: $SPARANA_DATA, else $XDG_CACHE_HOME/sparana, else ~/.cache/sparana."""
    if os.environ.get("SPARANA_DATA"):
        return Path(os.environ["SPARANA_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "sparana"
