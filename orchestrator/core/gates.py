"""`PoolGates`: how many attempts a pool's breaker and rate limit let through now.

A pool may have a circuit breaker (``breaker.py``) and a rate limit (``rate_limit.py``).
The dispatcher asks `budget` before sending a pool's work and tells `spend` what it sent;
a pool that must wait is *gated*: it is left alone (no dispatch, no new agents) until its
gate opens, and the scheduler asks for a tick at that time (`next_open_s`). Other pools
are never held up by it.
"""

from __future__ import annotations

from orchestrator.core.clock import Clock
from orchestrator.core.records import PoolRecord


class PoolGates:
    """The gated pools and the arithmetic of their budgets."""

    __slots__ = ("_clock", "gated")

    def __init__(self, clock: Clock) -> None:
        """Read the time from ``clock``."""
        self._clock = clock
        #: Pools with work held back by a gate.
        self.gated: set[PoolRecord] = set()

    def budget(self, pool: PoolRecord) -> int | None:
        """Return how many attempts ``pool`` may send now (None: no limit)."""
        breaker, bucket = pool.breaker, pool.bucket
        if breaker is None and bucket is None:
            return None
        now_s = self._clock.now_s()
        budget = breaker.allowance(now_s) if breaker is not None else None
        if bucket is not None:
            tokens = bucket.available(now_s)
            budget = tokens if budget is None else min(budget, tokens)
        if budget == 0:
            self.gated.add(pool)
        return budget

    def spend(self, pool: PoolRecord, sent: int, budget: int) -> int:
        """Take ``sent`` attempts off ``pool``'s gates; return what is left of ``budget``."""
        if pool.bucket is not None:
            pool.bucket.take(sent, self._clock.now_s())
        if pool.breaker is not None:
            pool.breaker.sent(sent)
        left = budget - sent
        if left == 0:
            self.gated.add(pool)
        return left

    def next_open_s(self) -> float | None:
        """Return when a gated pool may send again (a cool-down ends, a token is due).

        A half-open breaker waiting for its probe has no time: the probe's outcome wakes
        its pool.
        """
        now_s = self._clock.now_s()
        due = (self._opens_s(pool, now_s) for pool in self.gated)
        return min((due_s for due_s in due if due_s is not None), default=None)

    def reopen(self, now_s: float) -> list[PoolRecord]:
        """Return the gated pools whose gate opened by ``now_s`` (no longer gated)."""
        opened = []
        for pool in list(self.gated):
            opens_s = self._opens_s(pool, now_s)
            if not pool.has_ready() or opens_s is None or opens_s <= now_s:
                self.gated.discard(pool)
                opened.append(pool)
        return opened

    @staticmethod
    def _opens_s(pool: PoolRecord, now_s: float) -> float | None:
        if pool.breaker is not None and (reopens_s := pool.breaker.reopens_s()) is not None:
            return reopens_s
        if pool.bucket is not None:
            return pool.bucket.next_token_s(now_s)
        return None
