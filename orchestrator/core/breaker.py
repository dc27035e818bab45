"""`CircuitBreaker`: a pool whose tasks keep failing stops receiving work for a while.

The classic three states (Nygard's "Release It!"): **closed**, work flows and consecutive
failures are counted; after ``failure_threshold`` of them in a row the breaker **opens**:
the pool gets no work for ``cooldown_s``; then it is **half open**: one attempt goes as
a probe; its success closes the breaker, its failure opens it again for another
cool-down. Failures are the pool's attempts that failed (errors, timeouts, crashes),
not losses of agents to the infrastructure nor cancellations.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


class BreakerPolicy(BaseModel):
    """When a pool's breaker opens and for how long.

    Attributes:
        failure_threshold: Consecutive failed attempts that open the breaker.
        cooldown_s: How long it stays open before one probe is let through.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=30.0, gt=0)


class BreakerState(enum.StrEnum):
    """Where a breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """The breaker of one pool (see the module docstring); time comes in as arguments."""

    __slots__ = ("_failures", "_opened_s", "_policy", "_probing", "state")

    def __init__(self, policy: BreakerPolicy) -> None:
        """Start closed."""
        self._policy = policy
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_s = 0.0
        self._probing = False

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    def allowance(self, now_s: float) -> int | None:
        """Return how many attempts may be sent now: None for no limit, else 0 or 1.

        An open breaker whose cool-down has passed turns half open here and lets one
        probe through (until its outcome arrives).
        """
        if self.state is BreakerState.CLOSED:
            return None
        if self.state is BreakerState.OPEN:
            if now_s < self._opened_s + self._policy.cooldown_s:
                return 0
            self.state = BreakerState.HALF_OPEN
            self._probing = False
        return 0 if self._probing else 1

    def sent(self, attempts: int) -> None:
        """Note that ``attempts`` were sent (a half-open breaker's probe is then out)."""
        if self.state is BreakerState.HALF_OPEN and attempts:
            self._probing = True

    def reopens_s(self) -> float | None:
        """Return when an open breaker lets a probe through, or None when it is not open."""
        if self.state is BreakerState.OPEN:
            return self._opened_s + self._policy.cooldown_s
        return None

    def succeeded(self) -> BreakerState | None:
        """Record a successful attempt; return the new state if it changed."""
        self._failures = 0
        if self.state is BreakerState.CLOSED:
            return None
        self.state = BreakerState.CLOSED
        self._probing = False
        return self.state

    def failed(self, now_s: float) -> BreakerState | None:
        """Record a failed attempt at ``now_s``; return the new state if it changed."""
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or (
            self.state is BreakerState.CLOSED and self._failures >= self._policy.failure_threshold
        ):
            self.state = BreakerState.OPEN
            self._opened_s = now_s
            self._probing = False
            return self.state
        return None
