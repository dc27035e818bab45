"""This process's memory, for the supervisor's `process_stats` (tests and benchmarks)."""

from __future__ import annotations

import resource


def current_rss_bytes() -> int:
    """Return this process's resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize()


def process_memory() -> dict[str, int]:
    """Return resident memory now and at its peak, in bytes."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rss_bytes": current_rss_bytes(), "max_rss_bytes": peak_kib * 1024}
