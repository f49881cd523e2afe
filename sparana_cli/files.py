"""Files written so that a crash never leaves half of one: a fresh temporary name, then os.replace.

The temporary file is created exclusively (O_CREAT | O_EXCL, a random name) next to its target, so a
link planted under any name in a run folder is never followed; os.replace then swaps the name itself,
so a link planted under the target's name is replaced, not written through. A full disk ends the
write with DiskFull (one line, exit status 3) and the temporary file removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from sparana_cli.errors import DiskFull, is_full_disk
from sparana_cli.memory import in_words
from sparana_cli.profile import section
from sparana_cli.signals import deferred_signals

PART_SUFFIX = ".part"
RUN_WRITING = "run writing (files of the run folder)"
MARGIN = 1 << 18  # HDF5 headers, B-trees and the file system's own blocks, beyond the arrays' bytes
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def require_space(folder: Path, nbytes: int, what: str) -> None:
    """DiskFull unless the file system of `folder` has room for `nbytes` more (plus a margin) before `what` is written.

    Checked before an HDF5 file is opened: h5py failing half-way through a write can crash the process.
    """
    free = shutil.disk_usage(folder).free
    if free < nbytes + MARGIN:
        raise DiskFull(f"{what}: no space left on the device ({in_words(free)} free, about {in_words(nbytes + MARGIN)} "
                       "needed); free some space and run the command again")


@contextlib.contextmanager
def atomic_path(path: Path, *, needs: int | None = None) -> Iterator[Path]:
    """Yield a fresh temporary name next to `path`; on success it replaces `path` in one step, on failure it is removed.

    Readers see the old file or the new one, never a partial one (os.replace is atomic on POSIX).
    `needs`: the bytes the file will take, checked against the free space first (see require_space).
    Every file of a run is written here: `sparana --profile` counts this as run writing.
    """
    path = Path(path)
    with section(RUN_WRITING):
        if needs is not None:
            require_space(path.parent, needs, str(path))
        part = None
        try:
            with deferred_signals():  # a signal lands before the file is made or once its name is known, never between
                fd, name = tempfile.mkstemp(prefix=path.name + ".", suffix=PART_SUFFIX, dir=path.parent)
                part = Path(name)
                os.fchmod(fd, 0o666 & ~_UMASK)
                os.close(fd)
            yield part
            os.replace(part, path)
        except BaseException as err:
            if part is not None:
                with contextlib.suppress(OSError):
                    part.unlink()
            if is_full_disk(err):
                raise _disk_full(err, path) from None
            raise


def _disk_full(err: OSError, path: Path) -> DiskFull:
    return DiskFull(f"{path}: no space left on the device ({os.strerror(err.errno)}); free some space and run the "
                    "command again")


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as part:
        part.write_text(text, encoding="utf-8")
