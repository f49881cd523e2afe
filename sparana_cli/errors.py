"""The exceptions that end a command with a message instead of a traceback."""

import errno


class UserError(Exception):
    """Bad input (spec, data file, run folder, option): reported as one line, exit status 2."""


class RunStopped(Exception):
    """A run that ended before finishing, its folder kept incomplete for `--resume`: one line, `exit_code`.

    `summary` is what `--json` prints (it names the run folder).
    """

    exit_code = 1
    prefix = "error"

    def __init__(self, message: str, summary: dict | None = None):
        super().__init__(message)
        self.summary = summary or {}


class Interrupted(RunStopped):
    """SIGINT or SIGTERM: the current step finished and a checkpoint was written (exit status 130)."""

    exit_code = 130
    prefix = "interrupted"


class RunFailed(RunStopped):
    """A run could not finish (its loss or weights became NaN or infinite), or runs of a sweep did not; exit status 3."""

    exit_code = 3


class DiskFull(RunFailed):
    """The disk (or the user's quota) filled up while a run was being written; exit status 3."""


def is_full_disk(err: BaseException) -> bool:
    """Whether an error is the file system saying it is full (or the user's quota is spent)."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
