"""Where downloaded and decoded data live: $SPARANA_DATA, by default ~/.cache/sparana."""

from __future__ import annotations

import os
from pathlib import Path

from sparana_cli.errors import UserError


def data_home() -> Path:
    """The data folder: $SPARANA_DATA, else $XDG_CACHE_HOME/sparana, else ~/.cache/sparana; a UserError if it is a file."""
    if os.environ.get("SPARANA_DATA"):
        home = user_path(os.environ["SPARANA_DATA"], "SPARANA_DATA")
    else:
        home = Path(os.environ.get("XDG_CACHE_HOME") or user_path("~", "HOME") / ".cache") / "sparana"
    if home.exists() and not home.is_dir():
        raise UserError(f"SPARANA_DATA {home}: not a folder (it names where downloaded and decoded data are kept)"
                        if os.environ.get("SPARANA_DATA") else f"{home}: not a folder (the data folder)")
    return home


def user_path(value: str, key: str) -> Path:
    """A path with a leading ~ or ~user expanded; a UserError naming `key` when that user or home is unknown."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        raise UserError(f"{key} {value}: {value.split('/')[0]} is not a known user's home folder") from None
