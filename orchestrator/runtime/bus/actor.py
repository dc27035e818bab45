"""The actor-mailbox transport: one async bus actor holds every subscription's buffer.

Both sides batch. A client's publishes go into a local queue that a sender thread ships
in batches (one call carries everything published while the previous call was under
way); subscribers take a batch per call (a long poll that returns as soon as something
arrives). Per-sender order holds across calls: each batch carries its number and the
actor applies a sender's batches in that order.

A subscriber that dies never blocks a publisher for good: a subscription that holds
messages and reads none for ``subscriber_lease_s`` is dropped (`Router.expire`), and
its publisher goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import ray

from orchestrator.runtime.bus.interface import MAX_POLL_S, Bus, Subscription
from orchestrator.runtime.bus.messages import BusMessage, BusStatistics, Overflow
from orchestrator.runtime.bus.router import Router

#: The most messages one publishing call carries.
MAX_BATCH = 2000


class BusActor:
    """The bus's actor (async): a `Router` and the waiting of publishers and readers.

    Args:
        subscriber_lease_s: See the module docstring.
    """

    def __init__(self, subscriber_lease_s: float = 30.0) -> None:
        self._lease_s = subscriber_lease_s
        self._router = Router()
        self._ready: dict[str, asyncio.Event] = {}
        self._room = asyncio.Condition()
        self._next_batch: dict[str, int] = {}
        self._turn = asyncio.Condition()

    async def publish_batch(self, sender: str, batch_no: int, messages: list[BusMessage]) -> int:
        """Deliver a sender's batch ``batch_no`` (after its earlier ones); return its size.

        Waits for room in ``block`` subscriptions. Raises `BusOverflowError` for a full
        ``fail`` subscription.
        """
        async with self._turn:
            await self._turn.wait_for(lambda: self._next_batch.get(sender, 0) == batch_no)
        try:
            await self._deliver(messages)
        finally:
            async with self._turn:
                self._next_batch[sender] = batch_no + 1
                self._turn.notify_all()
        return len(messages)

    async def _deliver(self, messages: list[BusMessage]) -> None:
        router = self._router
        while True:
            try:
                taken = router.offer(messages, time.monotonic())
            finally:
                self._wake_readers()
            if taken == len(messages):
                return
            messages = messages[taken:]
            blocked = router.blocked_by
            started = time.monotonic()
            async with self._room:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), min(self._lease_s / 4, 0.5))
            if blocked is not None:
                router.add_blocked_time(blocked, time.monotonic() - started)
            for gone in router.expire(time.monotonic(), self._lease_s):
                event = self._ready.pop(gone, None)
                if event is not None:
                    event.set()

    def _wake_readers(self) -> None:
        touched = self._router.touched
        for subscription_id in touched:
            event = self._ready.get(subscription_id)
            if event is not None:
                event.set()
        touched.clear()

    async def subscribe(
        self,
        subscription_id: str,
        patterns: tuple[str, ...],
        capacity: int,
        overflow: Overflow,
        group: str | None,
        where: dict[str, object] | None,
        resume: bool = False,
    ) -> bool:
        """Add a subscription (`ValueError` names a bad field); see `Router.subscribe`."""
        created = self._router.subscribe(
            subscription_id,
            patterns,
            capacity=capacity,
            overflow=overflow,
            now_s=time.monotonic(),
            group=group,
            where=where,
            resume=resume,
        )
        self._ready.setdefault(subscription_id, asyncio.Event())
        return created

    async def unsubscribe(self, subscription_id: str) -> None:
        """Remove a subscription; publishers waiting for its room go on."""
        self._router.unsubscribe(subscription_id)
        event = self._ready.pop(subscription_id, None)
        if event is not None:
            event.set()
        async with self._room:
            self._room.notify_all()

    async def poll(self, subscription_id: str, max_n: int, timeout_s: float) -> list[BusMessage]:
        """Take up to ``max_n`` messages, waiting at most ``timeout_s`` for the first.

        Raises `SubscriptionClosedError` when the subscription is gone.
        """
        taken = await self._read(self._router.take, subscription_id, max_n, timeout_s)
        if taken:
            async with self._room:
                self._room.notify_all()
        return taken

    async def peek(self, subscription_id: str, max_n: int, timeout_s: float) -> list[BusMessage]:
        """Like `poll`, but leave the messages in place until `ack` (at-least-once)."""
        return await self._read(self._router.peek, subscription_id, max_n, timeout_s)

    async def _read(
        self,
        read: Callable[[str, int, float], list[BusMessage]],
        subscription_id: str,
        max_n: int,
        timeout_s: float,
    ) -> list[BusMessage]:
        """``read`` now; if nothing, wait at most ``timeout_s`` for a message, read again."""
        found = read(subscription_id, max_n, time.monotonic())
        if not found and timeout_s > 0:
            event = self._ready.get(subscription_id)
            if event is not None:
                event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), timeout_s)
            found = read(subscription_id, max_n, time.monotonic())
        return found

    async def ack(self, subscription_id: str, count: int) -> None:
        """Drop the ``count`` oldest messages of a subscription, handled after `peek`."""
        self._router.ack(subscription_id, count)
        async with self._room:
            self._room.notify_all()

    async def statistics(self) -> BusStatistics:
        """Return the bus's counters and every subscription's."""
        return self._router.statistics(time.monotonic(), "actor")

    async def ping(self) -> bool:
        """Answer (the bus is up)."""
        return True


def get_or_create_bus_actor(
    name: str, namespace: str, *, subscriber_lease_s: float, detached: bool = False
) -> Any:
    """Return the handle of the named bus actor of ``namespace``, creating it if need be.

    It asks for no CPU. Ray restarts it if its process dies; it then starts empty
    (subscribers learn it from `SubscriptionClosedError`).
    """
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "get_if_exists": True,
        "num_cpus": 0,
        "max_concurrency": 10_000,
        "max_restarts": -1,
    }
    if detached:
        options["lifetime"] = "detached"
    return ray.remote(BusActor).options(**options).remote(subscriber_lease_s)


class ActorBus(Bus):
    """A client of a bus actor: publishes in batches from a sender thread.

    Args:
        handle: The bus actor's handle (`get_or_create_bus_actor`).
        name: This client's name (the sender of what it publishes).
        max_message_bytes: Size limit of one payload as JSON.
        max_pending: Messages published but not yet shipped, at most: past it,
            `publish` waits (the bus's back-pressure reaches the publisher), or with
            ``drop_when_pending_full`` drops the new message and counts it
            (`dropped_pending`): for a publisher that must never wait (the supervisor).
        linger_s: How long the sender thread lets messages gather before shipping a batch
            that is not full: one actor call for many events (the supervisor's lifecycle
            events, several per task, cost an actor call each at every handle otherwise).
    """

    transport = "actor"

    def __init__(
        self,
        handle: Any,
        name: str | None = None,
        *,
        max_message_bytes: int | None = None,
        max_pending: int = 10_000,
        drop_when_pending_full: bool = False,
        linger_s: float = 0.0,
    ) -> None:
        super().__init__(name, max_message_bytes)
        self._linger_s = linger_s
        self.handle = handle
        self._max_pending = max_pending
        self._drop_when_full = drop_when_pending_full
        #: Messages dropped because ``max_pending`` were waiting to be shipped.
        self.dropped_pending = 0
        self._pending: deque[BusMessage] = deque()
        self._cond = threading.Condition()
        self._batches = 0
        self._shipped = 0
        self._queued = 0
        self._error: BaseException | None = None
        self._stopped = False
        self._flushing = 0  # callers waiting in `flush`: no lingering meanwhile
        self._thread = threading.Thread(target=self._ship, daemon=True, name="bus-sender")
        self._thread.start()

    def client(self, name: str) -> ActorBus:
        """Return another client of the same bus actor, publishing as ``name``."""
        return ActorBus(self.handle, name, max_message_bytes=self.max_message_bytes)

    def _send(self, message: BusMessage) -> None:
        with self._cond:
            self._raise_error()
            if self._drop_when_full and len(self._pending) >= self._max_pending:
                self.dropped_pending += 1
                return
            while len(self._pending) >= self._max_pending:
                self._cond.wait(0.1)
                self._raise_error()
            self._pending.append(message)
            self._queued += 1
            # The sender waits for a first message, then (lingering) for a full batch:
            # waking it at every publish would cost a thread switch per message.
            if len(self._pending) == 1 or len(self._pending) >= MAX_BATCH:
                self._cond.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _ship(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if not self._pending:
                    return
                if self._linger_s > 0:
                    self._linger()
                count = min(len(self._pending), MAX_BATCH)
                batch = [self._pending.popleft() for _ in range(count)]
                batch_no = self._batches
                self._batches += 1
                self._cond.notify_all()
            try:
                # A future rather than ray.get: in an async actor (the supervisor) Ray
                # warns of any ray.get, even in this thread, where it blocks nothing.
                self.handle.publish_batch.remote(self.name, batch_no, batch).future().result()
            except ray.exceptions.RayTaskError as exc:
                with self._cond:
                    self._error = exc.cause if exc.cause is not None else exc
            except Exception as exc:  # the actor is gone: the publisher hears it
                with self._cond:
                    self._error = exc
            with self._cond:
                self._shipped += count
                self._cond.notify_all()

    @property
    def batches_shipped(self) -> int:
        """How many batches (actor calls) this client has shipped or is shipping."""
        return self._batches

    def _linger(self) -> None:
        """Let messages gather for ``linger_s`` or until a batch is full (lock held)."""
        deadline = time.monotonic() + self._linger_s
        while len(self._pending) < MAX_BATCH and not (self._stopped or self._flushing):
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                return
            self._cond.wait(left_s)

    def flush(self) -> None:
        """Wait until everything published so far is delivered (or refused: raised)."""
        with self._cond:
            target = self._queued
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._shipped < target:
                    self._cond.wait(0.1)
            finally:
                self._flushing -= 1
            self._raise_error()

    def _open(
        self,
        subscription_id: str,
        patterns: tuple[str, ...],
        capacity: int,
        overflow: Overflow,
        group: str | None,
        where: Mapping[str, object] | None,
    ) -> Subscription:
        self.flush()  # what this client published before subscribing is not for it
        call = self.handle.subscribe.remote(
            subscription_id, patterns, capacity, overflow, group, dict(where or {})
        )
        _get(call)
        return _ActorSubscription(subscription_id, self.handle)

    def statistics(self) -> BusStatistics:
        """Return the bus's counters and every subscription's."""
        stats: BusStatistics = _get(self.handle.statistics.remote())
        return stats

    def close(self) -> None:
        """Flush, drop the reply inbox and stop the sender thread."""
        try:
            super().close()
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()
            self._thread.join(timeout=5)


def _get(ref: Any, timeout_s: float | None = None) -> Any:
    """`ray.get` that raises the bus's own errors (`ValueError`, closed...) as themselves."""
    try:
        return ray.get(ref, timeout=timeout_s)
    except ray.exceptions.RayTaskError as exc:
        if exc.cause is not None:
            raise exc.cause from None
        raise


class _ActorSubscription(Subscription):
    def __init__(self, subscription_id: str, handle: Any) -> None:
        super().__init__(subscription_id)
        self._handle = handle

    def _fetch(self, max_n: int, timeout_s: float) -> list[BusMessage]:
        batch: list[BusMessage] = _get(
            self._handle.poll.remote(self.id, max_n, min(timeout_s, MAX_POLL_S))
        )
        return batch

    async def _fetch_async(self, max_n: int, timeout_s: float) -> list[BusMessage]:
        try:
            batch: list[BusMessage] = await self._handle.poll.remote(
                self.id, max_n, min(timeout_s, MAX_POLL_S)
            )
        except ray.exceptions.RayTaskError as exc:
            if exc.cause is not None:
                raise exc.cause from None
            raise
        return batch

    def _close(self) -> None:
        with contextlib.suppress(ray.exceptions.RayActorError):
            _get(self._handle.unsubscribe.remote(self.id))
