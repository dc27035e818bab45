"""`TokenBucket`: at most so many attempts per second to a pool, with bursts.

For agents that call a rate-limited service. The bucket holds up to ``burst`` tokens and
refills at ``per_s`` tokens a second; each attempt sent takes one. A pool with no token
waits, without holding anything else up: other pools keep dispatching, and the scheduler
asks for a tick when the next token is due.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """A pool's rate limit.

    Attributes:
        per_s: Attempts allowed per second, on average.
        burst: Attempts that may go at once after a quiet spell (the bucket's size).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_s: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


class TokenBucket:
    """The tokens of one pool; time comes in as arguments (the scheduler's clock)."""

    __slots__ = ("_limit", "_tokens", "_updated_s")

    def __init__(self, limit: RateLimit, now_s: float) -> None:
        """Start full."""
        self._limit = limit
        self._tokens = float(limit.burst)
        self._updated_s = now_s

    def available(self, now_s: float) -> int:
        """Return the whole tokens available at ``now_s``."""
        self._refill(now_s)
        return math.floor(self._tokens + 1e-9)

    def take(self, count: int, now_s: float) -> None:
        """Spend ``count`` tokens (at most what `available` said)."""
        self._refill(now_s)
        self._tokens -= count

    def next_token_s(self, now_s: float) -> float:
        """Return when the next whole token is there (``now_s`` if one already is)."""
        self._refill(now_s)
        missing = 1.0 - self._tokens
        return now_s if missing <= 1e-9 else now_s + missing / self._limit.per_s

    def _refill(self, now_s: float) -> None:
        elapsed_s = max(now_s - self._updated_s, 0.0)
        self._tokens = min(float(self._limit.burst), self._tokens + elapsed_s * self._limit.per_s)
        self._updated_s = now_s
