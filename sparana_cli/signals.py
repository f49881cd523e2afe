"""SIGINT and SIGTERM: a request to stop at the next safe point, or an immediate KeyboardInterrupt."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """Set by the first SIGINT/SIGTERM; long work polls it between steps."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def graceful_stop(on_signal: Callable[[int], None] | None = None) -> Iterator[StopRequest]:
    """While inside, the first SIGINT or SIGTERM only sets the yielded request; a second raises KeyboardInterrupt.

    `on_signal(signum)` runs on every signal (e.g. to pass it on to child processes). Outside the
    main thread (a Dask worker's task thread) signals cannot be caught, and the request stays unset.
    """
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        first = request.signal is None
        request.signal = request.signal or signum
        if on_signal is not None:
            on_signal(signum)
        if not first:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Make SIGTERM raise KeyboardInterrupt like SIGINT does, so every command cleans up the same way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
