"""`Bus` and `Subscription`: the one interface every transport implements.

A transport provides five primitives (`Bus._send`, `Bus._open`, `Bus.flush`,
`Bus.statistics`, `Subscription._fetch`); publishing checks, request/reply, serving
requests and the iterator forms are built on them here, once for every transport.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any

from orchestrator.runtime.bus.messages import (
    DEFAULT_MAX_MESSAGE_BYTES,
    BusMessage,
    BusStatistics,
    BusTimeoutError,
    Overflow,
    SubscriptionClosedError,
    check_topic,
    encode_payload,
    rebuild_message,
    topic_word,
)

#: The longest single wait for messages: waits are cut into pieces this long, so a
#: subscriber that waits is seen reading (its lease stays fresh) and can be stopped.
MAX_POLL_S = 1.0


class Subscription(ABC):
    """Messages of the topics subscribed to, in a bounded buffer on the bus's side.

    Read with `get`/`get_batch`, iterate (``for message in sub``; ``async for`` in a
    notebook or an async driver), and `unsubscribe` when done (also a context manager).
    """

    def __init__(self, subscription_id: str) -> None:
        self.id = subscription_id
        self._local: deque[BusMessage] = deque()
        self._closed = False

    @abstractmethod
    def _fetch(self, max_n: int, timeout_s: float) -> list[BusMessage]:
        """Take up to ``max_n`` messages, waiting at most ``timeout_s`` for the first."""

    async def _fetch_async(self, max_n: int, timeout_s: float) -> list[BusMessage]:
        """`_fetch` without blocking an event loop (transports may do better)."""
        return await asyncio.to_thread(self._fetch, max_n, timeout_s)

    @abstractmethod
    def _close(self) -> None:
        """Remove the subscription on the bus's side."""

    def get_batch(self, max_n: int = 1000, timeout_s: float | None = None) -> list[BusMessage]:
        """Return up to ``max_n`` messages; wait at most ``timeout_s`` (None: forever).

        Returns an empty list when ``timeout_s`` passed with nothing. Raises
        `SubscriptionClosedError` when the subscription is gone.
        """
        if self._local:
            count = min(max_n, len(self._local))
            return [self._local.popleft() for _ in range(count)]
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait_s = (
                MAX_POLL_S if deadline is None else min(MAX_POLL_S, deadline - time.monotonic())
            )
            batch = self._fetch(max_n, max(wait_s, 0.0))
            if batch or (deadline is not None and time.monotonic() >= deadline):
                return batch

    def get(self, timeout_s: float | None = None) -> BusMessage | None:
        """Return the next message, or None when ``timeout_s`` passed with nothing."""
        if not self._local:
            self._local.extend(self.get_batch(1000, timeout_s))
        return self._local.popleft() if self._local else None

    def __iter__(self) -> Iterator[BusMessage]:
        """Yield messages until the subscription is closed."""
        try:
            while not self._closed:
                message = self.get(MAX_POLL_S)
                if message is not None:
                    yield message
        except SubscriptionClosedError:
            return

    async def __aiter__(self) -> AsyncIterator[BusMessage]:
        """Yield messages until the subscription is closed, without blocking the loop."""
        try:
            while not self._closed:
                while self._local:
                    yield self._local.popleft()
                self._local.extend(await self._fetch_async(1000, MAX_POLL_S))
        except SubscriptionClosedError:
            return

    def unsubscribe(self) -> None:
        """Stop the subscription; its buffered messages are dropped. Idempotent."""
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()


class Bus(ABC):
    """Publish, subscribe, request/reply; the same behaviour on every transport.

    Args:
        name: This client's name: the ``sender`` of what it publishes.
        max_message_bytes: Size limit of one payload as JSON.
    """

    transport = "abstract"

    def __init__(self, name: str | None = None, max_message_bytes: int | None = None) -> None:
        self.name = name or f"client-{uuid.uuid4().hex[:12]}"
        self.max_message_bytes = max_message_bytes or DEFAULT_MAX_MESSAGE_BYTES
        self._seq = itertools.count()
        self._ids = itertools.count()
        self._inbox: Subscription | None = None
        self._inbox_topic = f"_inbox.{topic_word(self.name)}"
        self._replies: dict[str, BusMessage] = {}
        self._inbox_lock = threading.Lock()

    # -- what transports provide ---------------------------------------------------------

    @abstractmethod
    def _send(self, message: BusMessage) -> None:
        """Hand a checked message to the transport (it may batch it)."""

    @abstractmethod
    def _open(
        self,
        subscription_id: str,
        patterns: tuple[str, ...],
        capacity: int,
        overflow: Overflow,
        group: str | None,
        where: Mapping[str, object] | None,
    ) -> Subscription:
        """Create a subscription on the bus's side."""

    @abstractmethod
    def flush(self) -> None:
        """Wait until everything published so far is in the subscribers' buffers.

        Raises the `BusOverflowError` of a ``fail`` subscription that refused some.
        """

    @abstractmethod
    def statistics(self) -> BusStatistics:
        """Return the bus's counters and every subscription's."""

    # -- built on them ---------------------------------------------------------------------

    def message(
        self,
        topic: str,
        payload: Any = None,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> BusMessage:
        """Return a checked message from this client (see `encode_payload` for errors)."""
        check_topic(topic)
        body, payload_type = encode_payload(topic, payload, self.max_message_bytes)
        # Checked above field by field; built without validating again (the hot path).
        return rebuild_message(
            (
                topic,
                body,
                payload_type,
                self.name,
                next(self._seq),
                time.time(),
                reply_to,
                correlation_id,
            )
        )

    def publish(self, topic: str, payload: Any = None) -> None:
        """Publish ``payload`` on ``topic``.

        It may wait for room (a ``block`` subscription that is full). Call `flush` to
        know it was delivered. Raises `ValueError` for a bad topic or payload,
        `MessageTooLargeError` past the size limit.
        """
        self._send(self.message(topic, payload))

    def subscribe(
        self,
        topics: str | Sequence[str],
        *,
        capacity: int = 1000,
        overflow: Overflow | str = Overflow.BLOCK,
        group: str | None = None,
        where: Mapping[str, object] | None = None,
        subscription_id: str | None = None,
    ) -> Subscription:
        """Subscribe to topics (``a.b``, ``a.*`` for everything below ``a``, ``*``).

        Args:
            topics: One pattern or several.
            capacity: The buffer's size on the bus's side.
            overflow: What a full buffer does (`Overflow`).
            group: Subscriptions in one group share the messages: each goes to one.
            where: Only messages whose payload (a dict) has these key/value pairs.
            subscription_id: Its id (default: a fresh one).

        Raises:
            ValueError: a bad pattern, capacity or policy (the field is named).
        """
        patterns = (topics,) if isinstance(topics, str) else tuple(topics)
        try:
            policy = Overflow(overflow)
        except ValueError:
            choices = ", ".join(p.value for p in Overflow)
            raise ValueError(f"overflow: {overflow!r} is not one of {choices}") from None
        subscription_id = subscription_id or f"{self.name}/{next(self._ids)}"
        return self._open(subscription_id, patterns, capacity, policy, group, where)

    def request(self, topic: str, payload: Any = None, *, timeout_s: float) -> BusMessage:
        """Publish a request on ``topic`` and return its reply.

        Agents listen on ``agent.<agent_id>`` and, one of a pool answering,
        ``pool.<pool>``. Raises `BusTimeoutError` when no reply comes in ``timeout_s``.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s: must be > 0 (got {timeout_s!r})")
        with self._inbox_lock:
            if self._inbox is None:
                self._inbox = self.subscribe(self._inbox_topic, capacity=10_000)
        correlation_id = f"{self.name}:{next(self._ids)}"
        self._send(
            self.message(topic, payload, reply_to=self._inbox_topic, correlation_id=correlation_id)
        )
        self.flush()
        deadline = time.monotonic() + timeout_s
        while True:
            with self._inbox_lock:
                reply = self._replies.pop(correlation_id, None)
                if reply is not None:
                    return reply
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise BusTimeoutError(f"no reply on {topic!r} within timeout_s={timeout_s:g}")
                for message in self._inbox.get_batch(1000, min(left_s, 0.05)):
                    if message.correlation_id is not None:
                        self._replies[message.correlation_id] = message

    def reply(self, request: BusMessage, payload: Any = None, *, wait: bool = True) -> None:
        """Answer a request (a message whose ``reply_to`` is set).

        ``wait`` false: return at once, the reply shipped in the background (an event
        loop that must not block).
        """
        if request.reply_to is None:
            raise ValueError(f"request: the message on {request.topic!r} expects no reply")
        self._send(self.message(request.reply_to, payload, correlation_id=request.correlation_id))
        if wait:
            self.flush()

    def serve(
        self,
        topics: str | Sequence[str],
        handler: Callable[[BusMessage], Any],
        *,
        group: str | None = None,
    ) -> Responder:
        """Answer requests on ``topics`` with ``handler`` in a background thread.

        ``handler``'s return value is the reply; an exception becomes a reply
        ``{"error": "<type>: <message>"}``. Stop it with `Responder.stop`.
        """
        subscription = self.subscribe(topics, group=group)
        return Responder(self, subscription, handler)

    def close(self) -> None:
        """Flush what was published and drop this client's reply inbox."""
        self.flush()
        if self._inbox is not None:
            self._inbox.unsubscribe()
            self._inbox = None


class Responder:
    """A background thread answering the requests of one subscription (`Bus.serve`)."""

    def __init__(
        self, bus: Bus, subscription: Subscription, handler: Callable[[BusMessage], Any]
    ) -> None:
        self.subscription = subscription
        self.served = 0
        self._bus = bus
        self._handler = handler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bus-responder")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.subscription.get_batch(100, 0.2)
            except SubscriptionClosedError:
                return
            for request in batch:
                try:
                    answer = self._handler(request)
                except Exception as exc:  # the requester hears of it, the loop goes on
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                self.served += 1  # before the reply: a requester that has it sees the count
                if request.reply_to is not None:
                    self._bus.reply(request, answer)

    def stop(self) -> None:
        """Stop answering and unsubscribe."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.subscription.unsubscribe()
