"""`Router`: the bus's bookkeeping, pure and synchronous (no Ray, no threads, no clock).

Both transports keep one: the in-process `LocalBus` behind a lock, the bus actor inside
its event loop. It holds every subscription's bounded buffer and routes each published
message to the subscriptions whose patterns match its topic (one member per group), as
their overflow policies say. Time comes in as ``now_s`` arguments.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from orchestrator.runtime.bus.messages import (
    BusMessage,
    BusOverflowError,
    BusStatistics,
    Overflow,
    SubscriptionClosedError,
    SubscriptionStatistics,
    check_pattern,
    pattern_matches,
)

#: Reasons kept for subscriptions that are gone (so a late reader learns why), at most.
_CLOSED_KEPT = 10_000


@dataclass(slots=True, eq=False)
class _Subscription:
    id: str
    patterns: tuple[str, ...]
    group: str | None
    overflow: Overflow
    capacity: int
    where: tuple[tuple[str, object], ...]
    last_read_s: float
    buffer: deque[BusMessage] = field(default_factory=deque)
    delivered: int = 0
    dropped: int = 0
    blocked_s: float = 0.0

    def accepts(self, message: BusMessage) -> bool:
        if not self.where:
            return True
        payload = message.payload
        if not isinstance(payload, dict):
            return False
        return all(payload.get(key) == value for key, value in self.where)


@dataclass(slots=True)
class _Group:
    members: list[_Subscription]
    turn: int = 0


class Router:
    """Subscriptions, their buffers, and the routing of messages to them."""

    def __init__(self) -> None:
        self._subs: dict[str, _Subscription] = {}
        self._closed: dict[str, str] = {}
        self._routes: dict[str, list[_Subscription | _Group]] = {}
        self.published = 0
        self.unrouted = 0
        self.expired = 0
        self._dropped_past = 0
        self._delivered_past = 0
        #: Subscriptions that received messages since the caller last cleared this.
        self.touched: set[str] = set()
        #: The subscription that stopped the last `offer` (``block`` policy), or None.
        self.blocked_by: str | None = None

    # -- subscriptions -----------------------------------------------------------------

    def subscribe(
        self,
        subscription_id: str,
        patterns: Sequence[str],
        *,
        capacity: int,
        overflow: Overflow,
        now_s: float,
        group: str | None = None,
        where: Mapping[str, object] | None = None,
        resume: bool = False,
    ) -> bool:
        """Add a subscription; return False if ``resume`` found it live (kept as it is).

        ``resume`` lets a subscriber that restarts take up its subscription again, with
        the messages that came meanwhile (the supervisor's triggers).

        Raises:
            ValueError: a bad pattern, capacity or policy (the field is named), or a
                live subscription with that id (without ``resume``).
        """
        if subscription_id in self._subs:
            if resume:
                self._subs[subscription_id].last_read_s = now_s
                return False
            raise ValueError(f"subscription_id: {subscription_id!r} is already subscribed")
        if not patterns:
            raise ValueError("topics: at least one topic pattern is needed")
        checked = tuple(check_pattern(p) for p in patterns)
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity: must be an integer >= 1 (got {capacity!r})")
        policy = Overflow(overflow)
        self._subs[subscription_id] = _Subscription(
            id=subscription_id,
            patterns=checked,
            group=group,
            overflow=policy,
            capacity=capacity,
            where=tuple((where or {}).items()),
            last_read_s=now_s,
        )
        self._closed.pop(subscription_id, None)
        self._routes.clear()
        return True

    def unsubscribe(self, subscription_id: str, reason: str = "unsubscribed") -> bool:
        """Remove a subscription and its buffer; return whether it was live."""
        sub = self._subs.pop(subscription_id, None)
        if sub is None:
            return False
        self._dropped_past += sub.dropped
        self._delivered_past += sub.delivered
        self._closed[subscription_id] = reason
        if len(self._closed) > _CLOSED_KEPT:
            del self._closed[next(iter(self._closed))]
        self._routes.clear()
        return True

    def expire(self, now_s: float, lease_s: float) -> list[str]:
        """Drop the ``block`` subscriptions that are full and have not read for ``lease_s``.

        A subscriber that died (or hangs) reads no more: this is how a publisher waiting
        for room in its buffer is freed. Others cost at most their buffer and block no
        one: they stay until unsubscribed. Returns the ids dropped.
        """
        gone = [
            s.id
            for s in self._subs.values()
            if s.overflow is Overflow.BLOCK
            and len(s.buffer) >= s.capacity
            and now_s - s.last_read_s > lease_s
        ]
        for subscription_id in gone:
            self.unsubscribe(
                subscription_id,
                f"dropped by the bus: it was full and read none for {lease_s:g} s",
            )
        self.expired += len(gone)
        return gone

    def is_live(self, subscription_id: str) -> bool:
        """Say whether the subscription exists."""
        return subscription_id in self._subs

    def depth(self, subscription_id: str) -> int:
        """Messages waiting for a subscription (0 if it is gone)."""
        sub = self._subs.get(subscription_id)
        return len(sub.buffer) if sub is not None else 0

    def add_blocked_time(self, subscription_id: str, seconds: float) -> None:
        """Charge ``seconds`` of a publisher's waiting to a subscription."""
        sub = self._subs.get(subscription_id)
        if sub is not None:
            sub.blocked_s += seconds

    # -- publishing ----------------------------------------------------------------------

    def _route(self, topic: str) -> list[_Subscription | _Group]:
        targets = self._routes.get(topic)
        if targets is None:
            targets = []
            groups: dict[str, _Group] = {}
            for sub in self._subs.values():
                if not any(pattern_matches(p, topic) for p in sub.patterns):
                    continue
                if sub.group is None:
                    targets.append(sub)
                elif sub.group in groups:
                    groups[sub.group].members.append(sub)
                else:
                    groups[sub.group] = _Group([sub])
                    targets.append(groups[sub.group])
            self._routes[topic] = targets
        return targets

    def _pick(self, group: _Group, message: BusMessage) -> _Subscription | None:
        """The group member that takes ``message``: the least loaded, in turns on ties."""
        members = [m for m in group.members if m.accepts(message)]
        if not members:
            return None
        group.turn += 1
        start = group.turn % len(members)
        ordered = members[start:] + members[:start]
        return min(ordered, key=lambda m: len(m.buffer))

    def offer(self, messages: Sequence[BusMessage], now_s: float) -> int:
        """Deliver ``messages`` in order; return how many were taken.

        Fewer than all were taken when a ``block`` subscription had no room for the next
        one (`blocked_by` names it): call again with the rest once it has read.

        Raises:
            BusOverflowError: a ``fail`` subscription had no room; the message it
                refused (and those after it) went to no one.
        """
        self.blocked_by = None
        for index, message in enumerate(messages):
            chosen: list[_Subscription] = []
            for target in self._route(message.topic):
                sub = self._pick(target, message) if isinstance(target, _Group) else target
                if sub is None or not sub.accepts(message):
                    continue
                if len(sub.buffer) >= sub.capacity:
                    if sub.overflow is Overflow.BLOCK:
                        self.blocked_by = sub.id
                        return index
                    if sub.overflow is Overflow.FAIL:
                        sub.dropped += 1
                        raise BusOverflowError(sub.id, message.topic, index)
                chosen.append(sub)
            if not chosen:
                self.unrouted += 1
            for sub in chosen:
                if len(sub.buffer) >= sub.capacity:  # drop_oldest
                    sub.buffer.popleft()
                    sub.dropped += 1
                sub.buffer.append(message)
                self.touched.add(sub.id)
            self.published += 1
        return len(messages)

    # -- reading ---------------------------------------------------------------------------

    def take(self, subscription_id: str, max_n: int, now_s: float) -> list[BusMessage]:
        """Take up to ``max_n`` buffered messages, oldest first (maybe none).

        Raises:
            SubscriptionClosedError: the subscription is gone (the message says why).
        """
        sub = self._live(subscription_id)
        sub.last_read_s = now_s
        buffer = sub.buffer
        count = min(max_n, len(buffer))
        taken = [buffer.popleft() for _ in range(count)]
        sub.delivered += count
        return taken

    def peek(self, subscription_id: str, max_n: int, now_s: float) -> list[BusMessage]:
        """Return up to ``max_n`` buffered messages, oldest first, leaving them there.

        With `ack`: a reader that dies before acknowledging gets them again when it
        resumes its subscription (at-least-once). Raises `SubscriptionClosedError`.
        """
        sub = self._live(subscription_id)
        sub.last_read_s = now_s
        return list(itertools.islice(sub.buffer, max_n))

    def ack(self, subscription_id: str, count: int) -> None:
        """Drop the ``count`` oldest messages, read with `peek` and now handled."""
        sub = self._live(subscription_id)
        count = min(count, len(sub.buffer))
        for _ in range(count):
            sub.buffer.popleft()
        sub.delivered += count

    def _live(self, subscription_id: str) -> _Subscription:
        sub = self._subs.get(subscription_id)
        if sub is None:
            reason = self._closed.get(subscription_id, "never subscribed")
            raise SubscriptionClosedError(f"subscription {subscription_id!r}: {reason}")
        return sub

    def statistics(self, now_s: float, transport: str) -> BusStatistics:
        """Return a snapshot of the counters and of every live subscription."""
        subs = tuple(
            SubscriptionStatistics(
                id=s.id,
                topics=s.patterns,
                group=s.group,
                overflow=s.overflow,
                capacity=s.capacity,
                depth=len(s.buffer),
                delivered=s.delivered,
                dropped=s.dropped,
                blocked_s=s.blocked_s,
                idle_s=max(0.0, now_s - s.last_read_s),
            )
            for s in self._subs.values()
        )
        return BusStatistics(
            transport=transport,
            published=self.published,
            delivered=self._delivered_past + sum(s.delivered for s in subs),
            dropped=self._dropped_past + sum(s.dropped for s in subs),
            unrouted=self.unrouted,
            expired_subscriptions=self.expired,
            subscriptions=subs,
        )
