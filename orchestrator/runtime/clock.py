"""`WallClock`: the real clock the runtime injects into the core.

It lives here, not in `orchestrator.core`, because reading the time is I/O the core must
not do: the core only sees the `Clock` protocol, and tests drive it with `FakeClock`.
"""

from __future__ import annotations

import time


class WallClock:
    """The real wall clock (seconds since the epoch); satisfies `orchestrator.core.Clock`."""

    def now_s(self) -> float:
        """Return ``time.time()``."""
        return time.time()
