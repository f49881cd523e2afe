"""`sparana --profile` (or SPARANA_PROFILE=1): where a command's wall time went, printed on stderr at its end.

Code marks what it does with `section("data load")`. Time goes to the innermost open section (a
section's own time leaves out the sections opened inside it), so the lines add up to the wall
time from the process's start. While profiling, every import statement is a section of its own,
`imports`, wherever it happens, unless the open section keeps its imports (`keep_imports=True`:
Numba's start-up imports its registries and SciPy's BLAS, and that is the cost of starting Numba).
Nothing is measured, and `section` costs one attribute test, unless profiling is on.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import os
import sys
import time
from typing import Iterator

ENV = "SPARANA_PROFILE"
IMPORTS = "imports"
OTHER = "other (argument parsing, printing, the rest of the command)"

_CLI_STARTED = time.perf_counter()  # this module is the first the `sparana` entry point imports


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc, 10 ms resolution); None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, counted after the command name
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class Profile:
    """Seconds per section name, credited to the innermost open section."""

    def __init__(self):
        self.enabled = False
        self.totals: dict[str, float] = {}
        self._stack: list[list] = []  # [name, started, keeps_imports]
        self._import_depth = 0
        self._started = 0.0
        self._before = 0.0  # process start to the CLI's first import, measured when enabling
        self._original_import = None

    def enable(self) -> None:
        if self.enabled:
            return
        now = time.perf_counter()
        age = process_age()
        self._before = max(0.0, age - (now - _CLI_STARTED)) if age is not None else 0.0
        self.totals = {"process start (interpreter, before the CLI)": self._before,
                       f"{IMPORTS} (the CLI, before parsing)": now - _CLI_STARTED}
        self._started = now
        self.enabled = True
        self._original_import = builtins.__import__
        builtins.__import__ = self._timed_import

    def disable(self) -> None:
        if self._original_import is not None:
            builtins.__import__ = self._original_import
            self._original_import = None
        self.enabled = False

    def timed(self, name: str):
        """A decorator: every call of the function is a section `name`."""
        def decorate(function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                with self.section(name):
                    return function(*args, **kwargs)
            return wrapper
        return decorate

    @contextlib.contextmanager
    def section(self, name: str, *, keep_imports: bool = False) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        self._open(name, keep_imports)
        try:
            yield
        finally:
            self._close()

    def _open(self, name: str, keep_imports: bool) -> None:
        now = time.perf_counter()
        if self._stack:
            top = self._stack[-1]
            self._credit(top[0], now - top[1])
        self._stack.append([name, now, keep_imports])

    def _close(self) -> None:
        now = time.perf_counter()
        name, started, _ = self._stack.pop()
        self._credit(name, now - started)
        if self._stack:
            self._stack[-1][1] = now

    def _credit(self, name: str, seconds: float) -> None:
        self.totals[name] = self.totals.get(name, 0.0) + seconds

    def _timed_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        outermost = self._import_depth == 0 and not (self._stack and self._stack[-1][2])
        if outermost and name in sys.modules and not fromlist:
            return self._original_import(name, globals, locals, fromlist, level)  # already loaded: nothing to time
        self._import_depth += 1
        try:
            if not outermost:
                return self._original_import(name, globals, locals, fromlist, level)
            with self.section(IMPORTS):
                return self._original_import(name, globals, locals, fromlist, level)
        finally:
            self._import_depth -= 1

    def report(self) -> str:
        """The breakdown: one line per section, largest first, then the wall time they add up to."""
        wall = self._before + (time.perf_counter() - _CLI_STARTED)
        rest = wall - sum(self.totals.values())
        lines = sorted(({**self.totals, OTHER: rest}).items(), key=lambda item: -item[1])
        width = max(len(name) for name, _ in lines)
        body = [f"  {name.ljust(width)}  {seconds:7.3f} s  {100 * seconds / wall:5.1f}%"
                for name, seconds in lines if seconds >= 0.0005]
        return "\n".join(["profile: where the wall time went", *body, f"  {'wall time'.ljust(width)}  {wall:7.3f} s"])


PROFILE = Profile()
section = PROFILE.section
timed = PROFILE.timed
NUMBA_IMPORT = "numba: import"
NUMBA_LOAD = "numba: start-up, kernel typing and cache load (or compile)"


def watch_numba() -> None:
    """While profiling, credit every hold of Numba's compiler lock to NUMBA_LOAD (call once Numba is imported).

    Numba holds the lock while it types a kernel for new argument types and loads it from its
    on-disk cache or compiles it; the first time in a process that includes its own start-up
    (its typing and lowering registries, and SciPy's BLAS, which it imports to find one).
    """
    if not PROFILE.enabled:
        return
    from numba.core import event

    class CompilerLock(event.Listener):
        """Opens the section on the lock's start and closes it on its end, only while profiling."""

        def __init__(self):
            self.opened: list[bool] = []  # per (reentrant) hold: whether its start opened a section

        def on_start(self, ev):
            self.opened.append(PROFILE.enabled)
            if PROFILE.enabled:
                PROFILE._open(NUMBA_LOAD, True)

        def on_end(self, ev):
            if self.opened and self.opened.pop() and PROFILE._stack:
                PROFILE._close()

    event.register("numba:compiler_lock", CompilerLock())

