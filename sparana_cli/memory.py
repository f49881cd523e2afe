"""The host's free memory, byte counts in words, and the refusal of what cannot fit (standard library only)."""

from __future__ import annotations

import os

from sparana_cli.errors import UserError

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK = 1 << 20


def refuse_if_too_big(needed: int, available: int, what: str, key: str) -> None:
    """A UserError naming `key` when `needed` bytes exceed the `available` ones."""
    if needed > available:
        raise UserError(f"{key}: {what} needs about {in_words(needed)}, more than the {in_words(available)} of memory "
                        "available; make it smaller")


def in_words(n: float) -> str:
    """Bytes in words: "24.4 GB"."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def host_free_memory() -> int:
    """The host's available memory in bytes (MemAvailable on Linux, else all physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def return_large_blocks() -> None:
    """Have glibc's malloc give every freed block of 1 MiB or more back to the system (elsewhere: nothing).

    By default glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB);
    arrays of a few MB then come from the heap, and freed ones stay resident. A training run's
    validation and test passes each added their inference chunk (7 MB) to its peak that way: the
    bench's memory row went from 1.35x to 1.23x of what the run must hold with this set.
    """
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK)
    except (OSError, AttributeError, TypeError):
        pass
