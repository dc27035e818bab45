"""Clocks: the core never reads time itself; a clock is injected.

The real one, `WallClock`, lives in `orchestrator.runtime.clock`.
"""

from __future__ import annotations

from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current time in seconds."""

    def now_s(self) -> float:
        """Return the current time in seconds."""
        ...


class FakeClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = start_s

    def now_s(self) -> float:
        """Return the current fake time."""
        return self._now_s

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (never backwards)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now_s += seconds

    def set(self, now_s: float) -> None:
        """Jump to ``now_s``, which must not be in the past."""
        self.advance(now_s - self._now_s)
