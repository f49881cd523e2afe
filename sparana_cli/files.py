"""Files written so that a crash never leaves half of one: a temporary name, then os.replace."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from sparana_cli.profile import section

PART_SUFFIX = ".part"
RUN_WRITING = "run writing (files of the run folder)"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary name next to `path`; on success it replaces `path` in one step, on failure it is removed.

    Readers see the old file or the new one, never a partial one (os.replace is atomic on POSIX).
    Every file of a run is written here: `sparana --profile` counts this as run writing.
    """
    path = Path(path)
    part = path.with_name(path.name + PART_SUFFIX)
    with section(RUN_WRITING):
        try:
            yield part
        except BaseException:
            with contextlib.suppress(OSError):
                part.unlink()
            raise
        os.replace(part, path)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as part:
        part.write_text(text, encoding="utf-8")
