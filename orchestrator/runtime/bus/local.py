"""`LocalBus`: the in-process transport (threads of one process; tests and the core's twin).

The same `Router` as the bus actor, behind a lock: publishers wait on a condition for
room, readers for messages. It shares the `Bus` interface and passes the same
conformance suite (tests/bus), so code written against it runs on the actor transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from orchestrator.runtime.bus.interface import Bus, Subscription
from orchestrator.runtime.bus.messages import BusMessage, BusStatistics, Overflow
from orchestrator.runtime.bus.router import Router

#: How long a blocked publisher waits between checks for subscribers that stopped reading.
_EXPIRY_CHECK_S = 0.1


class LocalBus(Bus):
    """A bus inside one process.

    Args:
        name: This client's name (the sender of what it publishes).
        subscriber_lease_s: A subscription holding messages that reads none for this
            long is dropped (it is dead or stuck; a publisher waiting for it goes on).
        max_message_bytes: Size limit of one payload as JSON.
        clock: Monotonic seconds (injected in tests).
    """

    transport = "local"

    def __init__(
        self,
        name: str | None = None,
        *,
        subscriber_lease_s: float = 30.0,
        max_message_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, max_message_bytes)
        self.subscriber_lease_s = subscriber_lease_s
        self._router = Router()
        self._clock = clock
        self._cond = threading.Condition()

    def client(self, name: str) -> LocalBus:
        """Return another client of this same bus, publishing as ``name``."""
        other = LocalBus(
            name,
            subscriber_lease_s=self.subscriber_lease_s,
            max_message_bytes=self.max_message_bytes,
            clock=self._clock,
        )
        other._router = self._router
        other._cond = self._cond
        return other

    def _send(self, message: BusMessage) -> None:
        batch = [message]
        with self._cond:
            while True:
                taken = self._router.offer(batch, self._clock())
                if taken:
                    self._cond.notify_all()
                if taken == len(batch):
                    return
                batch = batch[taken:]
                blocked = self._router.blocked_by
                started = self._clock()
                self._cond.wait(_EXPIRY_CHECK_S)
                if blocked is not None:
                    self._router.add_blocked_time(blocked, self._clock() - started)
                if self._router.expire(self._clock(), self.subscriber_lease_s):
                    self._cond.notify_all()

    def _open(
        self,
        subscription_id: str,
        patterns: tuple[str, ...],
        capacity: int,
        overflow: Overflow,
        group: str | None,
        where: Mapping[str, object] | None,
    ) -> Subscription:
        with self._cond:
            self._router.subscribe(
                subscription_id,
                patterns,
                capacity=capacity,
                overflow=overflow,
                now_s=self._clock(),
                group=group,
                where=where,
            )
        return _LocalSubscription(subscription_id, self)

    def flush(self) -> None:
        """Nothing to wait for: `publish` delivers before it returns."""

    def statistics(self) -> BusStatistics:
        """Return the bus's counters and every subscription's."""
        with self._cond:
            return self._router.statistics(self._clock(), self.transport)


class _LocalSubscription(Subscription):
    def __init__(self, subscription_id: str, bus: LocalBus) -> None:
        super().__init__(subscription_id)
        self._bus = bus

    def _fetch(self, max_n: int, timeout_s: float) -> list[BusMessage]:
        bus = self._bus
        deadline = time.monotonic() + timeout_s
        with bus._cond:
            while True:
                taken = bus._router.take(self.id, max_n, bus._clock())
                left_s = deadline - time.monotonic()
                if taken or left_s <= 0:
                    if taken:
                        bus._cond.notify_all()  # room for blocked publishers
                    return taken
                bus._cond.wait(left_s)

    def _close(self) -> None:
        with self._bus._cond:
            self._bus._router.unsubscribe(self.id)
            self._bus._cond.notify_all()
