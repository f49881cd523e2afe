"""SIGINT and SIGTERM: a request to stop at the next safe point, or one KeyboardInterrupt, never a second.

One handler serves both signals and every scope. Inside `graceful_stop` the first signal only sets
the yielded request; elsewhere in a command (`interrupting`) it raises KeyboardInterrupt. Whatever
the scope, at most one KeyboardInterrupt is raised per command: every later signal is only
counted, so the cleanup that handles the first (a checkpoint kept, status.json written, the
one-line message) is never itself cut short, however the signals are timed.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import threading
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first SIGINT/SIGTERM; long work polls it between steps."""

    def __init__(self, on_signal: Callable[[int], None] | None = None):
        self.signal: int | None = None
        self.on_signal = on_signal

    def __call__(self) -> bool:
        return self.signal is not None


class _State:
    """Process-wide: the signals received in this command, whether its one KeyboardInterrupt was raised, the request."""

    received = 0
    raised = False
    armed = True  # False once the command is ending: signals are then only counted
    deferring = False  # inside deferred_signals: a KeyboardInterrupt waits for its end
    pending = False
    request: StopRequest | None = None


def _handler(signum, frame):
    _State.received += 1
    request = _State.request
    if request is not None:
        first = request.signal is None
        request.signal = request.signal or signum
        if request.on_signal is not None:
            request.on_signal(signum)
        if first:
            return
    if _State.deferring:
        _State.pending = True
        return
    _raise_once()


def _raise_once() -> None:
    if _State.armed and not _State.raised:
        _State.raised = True
        raise KeyboardInterrupt


@contextlib.contextmanager
def _installed() -> Iterator[None]:
    previous = {s: signal.signal(s, _handler) for s in STOP_SIGNALS}
    hook = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable(hook)
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for s, h in previous.items():
            signal.signal(s, h)


def _quiet_unraisable(hook):
    """The KeyboardInterrupt that landed in a finalizer (__del__), where Python can only print it: not printed.

    The interrupt is then lost, but not the signal: a graceful_stop's request stays set, and a command
    that ran to its end exits with 130 all the same (it counts every signal received).
    """

    def quiet(unraisable):
        if unraisable.exc_type is not KeyboardInterrupt:
            hook(unraisable)

    return quiet


class Command:
    """The signal state of one command: `quiet()` stops any further signal from raising."""

    def quiet(self) -> None:
        _State.armed = False


def signals_received() -> int:
    """How many SIGINT/SIGTERM the last command (`interrupting`) received, those after it ended included (see below)."""
    return _State.received


def _count(signum, frame):
    _State.received += 1


def end_process() -> None:
    """The process's exit status is decided: from now on SIGINT and SIGTERM are ignored (Python's shutdown resets
    every other handler to the default, under which a late SIGTERM would kill it with another status)."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
    _forget_unhandled_interrupt()


def _forget_unhandled_interrupt() -> None:
    """CPython marks a KeyboardInterrupt that left code run through its eval entry points as unhandled, even one
    caught and reported since, and then ends the process as killed by SIGINT instead of with its exit status.
    Running an empty statement through the same entry point clears the mark (CPython only; elsewhere a no-op)."""
    try:
        import ctypes

        ctypes.pythonapi.PyRun_SimpleString(b"")
    except (ImportError, AttributeError, OSError):
        pass


def start_command(*, whole_process: bool) -> None:
    """A command begins: no signal received yet. `whole_process` (the process is the command): from now on a
    signal outside `interrupting` is counted, never fatal, up to the process's exit."""
    _State.received, _State.raised, _State.armed, _State.request, _State.pending = 0, False, True, None, False
    if whole_process and threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, _count)


@contextlib.contextmanager
def interrupting() -> Iterator[Command]:
    """A command's scope (after start_command): SIGINT and SIGTERM alike raise one KeyboardInterrupt (outside
    graceful_stop), then are counted."""
    if threading.current_thread() is not threading.main_thread():
        yield Command()
        return
    with _installed():
        yield Command()


@contextlib.contextmanager
def graceful_stop(on_signal: Callable[[int], None] | None = None) -> Iterator[StopRequest]:
    """While inside, the first SIGINT or SIGTERM only sets the yielded request; a second raises KeyboardInterrupt.

    `on_signal(signum)` runs on every signal (e.g. to pass it on to child processes). Outside the
    main thread (a Dask worker's task thread) signals cannot be caught, and the request stays unset.
    """
    request = StopRequest(on_signal)
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    outer, _State.request = _State.request, request
    if signal.getsignal(signal.SIGINT) is not _handler:  # called outside a command (the Python API): a fresh state
        _State.raised, _State.armed, _State.pending = False, True, False
    try:
        with _installed():
            yield request
    finally:
        _State.request = outer



@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """A step that must happen whole (reserving or renaming a folder): a signal that would interrupt it acts when it ends.

    (A flag, not the OS signal mask: a process-directed signal may arrive on any thread.)
    """
    outer, _State.deferring = _State.deferring, True
    try:
        yield
    finally:
        _end_deferring(outer)


def uninterrupted(function: Callable) -> Callable:
    """`function` run whole, as under deferred_signals (a plain wrapper: cheap enough for a kernel called every step).

    For library code that runs Python inside and breaks when a KeyboardInterrupt lands there: Numba compiling or
    loading a kernel from its cache (a half-loaded kernel crashed the process at exit), h5py's visit callbacks.
    """

    @functools.wraps(function)
    def whole(*args, **kwargs):
        outer, _State.deferring = _State.deferring, True
        try:
            return function(*args, **kwargs)
        finally:
            _end_deferring(outer)

    return whole


def _end_deferring(outer: bool) -> None:
    _State.deferring = outer
    if not outer and _State.pending:
        _State.pending = False
        _raise_once()
