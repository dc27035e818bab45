"""`SelfProfiler`: a debug-only CPU profile of the supervisor's event loop (off by default).

Set ``ORCHESTRATOR_SUPERVISOR_PROFILE`` to a file path in the environment Ray's processes
inherit (the driver's, for an embedded local Ray) and the supervisor profiles its event
loop thread with `cProfile`, timed by that thread's CPU clock (`time.thread_time`), from
its first loop start to its shutdown, when it writes the stats there (read them with
`pstats`). Profiling slows the supervisor down; it is a tool for finding where its CPU
goes, never on in production or benchmarks.
"""

from __future__ import annotations

import cProfile
import os
import time

#: The environment variable naming the file the profile is written to.
PROFILE_ENV = "ORCHESTRATOR_SUPERVISOR_PROFILE"


class SelfProfiler:
    """Profiles the thread that calls `start` until `stop`, if ``path`` is set.

    Args:
        path: Where `stop` writes the stats; None (the default: from `PROFILE_ENV`,
            unset) profiles nothing.
    """

    def __init__(self, path: str | None = None) -> None:
        self._path = path if path is not None else os.environ.get(PROFILE_ENV) or None
        self._profile: cProfile.Profile | None = None

    def start(self) -> None:
        """Start profiling the calling thread (once; no-op without a path)."""
        if self._path is None or self._profile is not None:
            return
        self._profile = cProfile.Profile(time.thread_time)
        self._profile.enable()

    def stop(self) -> None:
        """Stop profiling and write the stats to the path (no-op if not started)."""
        profile, self._profile = self._profile, None
        if profile is None or self._path is None:
            return
        profile.disable()
        profile.dump_stats(self._path)
