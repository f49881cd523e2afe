"""Files written so that a crash never leaves half of one: a temporary name, then os.replace."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

PART_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary name next to `path`; on success it replaces `path` in one step, on failure it is removed.

    Readers see the old file or the new one, never a partial one (os.replace is atomic on POSIX).
    """
    path = Path(path)
    part = path.with_name(path.name + PART_SUFFIX)
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
