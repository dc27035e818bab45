"""What travels on the bus: `BusMessage`, overflow policies, errors and statistics.

A message's payload is JSON-shaped (dicts, lists, strings, numbers, booleans, None) or a
pydantic model, which is sent as its JSON form with its type's name so that a receiver
can validate it back (`BusMessage.parse`). Payloads are checked when a message is made:
a value that is not JSON-shaped, or one larger than the bus's size limit, is refused
there, with an error that names the topic and the field, not somewhere downstream.
"""

from __future__ import annotations

import enum
import re
from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, JsonValue

#: The default size limit of one message's payload, JSON-encoded (bytes).
DEFAULT_MAX_MESSAGE_BYTES = 1_000_000

#: Topics: dot-separated words of letters, digits, ``_``, ``-``, ``@``, ``:``.
_TOPIC = re.compile(r"^[A-Za-z0-9_\-@:]+(\.[A-Za-z0-9_\-@:]+)*$")
#: Patterns: a topic, a topic ending in ``.*`` (everything below it) or ``*`` (all).
_PATTERN = re.compile(r"^(\*|[A-Za-z0-9_\-@:]+(\.[A-Za-z0-9_\-@:]+)*(\.\*)?)$")

ModelT = TypeVar("ModelT", bound=BaseModel)


class Overflow(enum.StrEnum):
    """What a full subscription buffer does with one more message.

    Attributes:
        BLOCK: The publisher waits for room (never forever: a subscriber that stops
            reading for its lease is dropped, see `BusSettings.subscriber_lease_s`).
        DROP_OLDEST: The oldest buffered message is dropped and counted.
        FAIL: The publisher gets `BusOverflowError`; the message goes to no one.
    """

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    FAIL = "fail"


class BusError(RuntimeError):
    """Base class of the bus's errors."""


class MessageTooLargeError(BusError, ValueError):
    """A payload is larger than the bus's size limit."""


class BusOverflowError(BusError):
    """A subscription with the ``fail`` policy was full.

    Attributes:
        subscription: The full subscription's id.
        topic: The topic of the message refused.
        accepted: How many messages of the refused batch were delivered before it.
    """

    def __init__(self, subscription: str, topic: str, accepted: int) -> None:
        self.subscription = subscription
        self.topic = topic
        self.accepted = accepted
        super().__init__(
            f"subscription {subscription!r} is full (overflow policy 'fail'): message on"
            f" {topic!r} refused after {accepted} message(s) of the batch were delivered"
        )

    def __reduce__(self) -> tuple[type[BusOverflowError], tuple[str, str, int]]:
        # Raised in the bus actor, raised again in the publisher: it must pickle.
        return (BusOverflowError, (self.subscription, self.topic, self.accepted))


class SubscriptionClosedError(BusError):
    """The subscription is gone: unsubscribed, or dropped by the bus (the reason says)."""


class BusTimeoutError(BusError, TimeoutError):
    """A request got no reply within its ``timeout_s``."""


_NOT_IN_TOPIC = re.compile(r"[^A-Za-z0-9_\-@:]")


def topic_word(text: str) -> str:
    """Return ``text`` fit to be one word of a topic (other characters become ``_``)."""
    return _NOT_IN_TOPIC.sub("_", text.replace(".", "_")) or "_"


def check_topic(topic: str, *, field: str = "topic") -> str:
    """Return ``topic`` if it is a valid topic; raise `ValueError` naming ``field`` if not."""
    if not isinstance(topic, str) or not _TOPIC.match(topic):
        raise ValueError(
            f"{field}: {topic!r} is not a topic (dot-separated words of letters, digits,"
            " '_', '-', '@', ':')"
        )
    return topic


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if valid (a topic, ``prefix.*`` or ``*``); raise `ValueError`."""
    if not isinstance(pattern, str) or not _PATTERN.match(pattern):
        raise ValueError(f"topics: {pattern!r} is not a topic pattern (a topic, 'prefix.*' or '*')")
    return pattern


def pattern_matches(pattern: str, topic: str) -> bool:
    """Say whether ``topic`` is one that ``pattern`` selects."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


class BusMessage(BaseModel):
    """One message on the bus.

    Attributes:
        topic: Where it was published.
        payload: JSON-shaped content.
        payload_type: The qualified name of the pydantic model the payload was made from,
            or None for plain JSON.
        sender: Who published it (a publisher's id: ``driver-…``, ``agent-…``...).
        seq: The sender's running number: messages of one sender arrive in this order.
        sent_s: Wall-clock time of publishing (for latency).
        reply_to: For a request: the topic its reply goes to.
        correlation_id: For a request and its reply: what ties them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    payload: JsonValue = None
    payload_type: str | None = None
    sender: str = ""
    seq: int = Field(default=0, ge=0)
    sent_s: float = 0.0
    reply_to: str | None = None
    correlation_id: str | None = None

    def parse(self, model: type[ModelT]) -> ModelT:
        """Validate the payload as ``model``; raises pydantic's `ValidationError` if not."""
        return model.model_validate(self.payload)

    @property
    def is_request(self) -> bool:
        """Whether the sender waits for a reply (`Bus.reply`)."""
        return self.reply_to is not None

    def __reduce__(self) -> tuple[Any, tuple[tuple[Any, ...]]]:
        # A tuple of fields on the wire: pickling a pydantic model costs ~8 us each way,
        # a tuple a fraction (messages were checked when made; see `rebuild_message`).
        return (rebuild_message, (tuple(self.__dict__[name] for name in _FIELDS),))


_FIELDS = tuple(BusMessage.model_fields)
_FIELDS_SET = frozenset(_FIELDS)


def rebuild_message(values: tuple[Any, ...]) -> BusMessage:
    """Make a `BusMessage` from its fields in order, without validating them again.

    For values already checked (unpickling; `Bus.message`, which checks each field).
    """
    message = object.__new__(BusMessage)
    object.__setattr__(message, "__dict__", dict(zip(_FIELDS, values, strict=True)))
    object.__setattr__(message, "__pydantic_fields_set__", set(_FIELDS_SET))
    object.__setattr__(message, "__pydantic_extra__", None)
    object.__setattr__(message, "__pydantic_private__", None)
    return message


def encode_payload(topic: str, payload: Any, max_bytes: int) -> tuple[JsonValue, str | None]:
    """Check a payload; return its JSON-shaped form and its model's name (or None).

    Raises:
        ValueError: the payload is not JSON-shaped (names the topic and the problem).
        MessageTooLargeError: its JSON form is larger than ``max_bytes``.
    """
    payload_type = None
    if isinstance(payload, BaseModel):
        payload_type = f"{type(payload).__module__}.{type(payload).__qualname__}"
        payload = payload.model_dump(mode="json")
    try:
        encoded = pydantic_core.to_json(payload)
    except pydantic_core.PydanticSerializationError as exc:
        raise ValueError(f"payload of a message on {topic!r} is not JSON-shaped: {exc}") from None
    if len(encoded) > max_bytes:
        raise MessageTooLargeError(
            f"payload of a message on {topic!r} is {len(encoded)} bytes as JSON; the bus's"
            f" limit (bus.max_message_bytes) is {max_bytes}"
        )
    # JSON-shaped means it comes back from JSON as it went (in C: fast on big payloads);
    # tuples, sets, int keys, dates... do not.
    if pydantic_core.from_json(encoded) != payload:
        raise ValueError(
            f"payload of a message on {topic!r} is not JSON-shaped: only dicts with string"
            f" keys, lists, str, int, float, bool and None (got {type(payload).__name__})"
        )
    return payload, payload_type


class SubscriptionStatistics(BaseModel):
    """One subscription as the bus sees it (a slow subscriber shows here).

    Attributes:
        id: The subscription's id.
        topics: Its topic patterns.
        group: Its group (one member of a group gets each message), or None.
        overflow: Its overflow policy.
        capacity: Its buffer's size.
        depth: Messages waiting in its buffer now.
        delivered: Messages it has taken.
        dropped: Messages dropped for it (``drop_oldest``) or refused (``fail``).
        blocked_s: Time publishers spent waiting for room in it (``block``).
        idle_s: Time since it last read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    topics: tuple[str, ...]
    group: str | None
    overflow: Overflow
    capacity: int
    depth: int
    delivered: int
    dropped: int
    blocked_s: float
    idle_s: float


class BusStatistics(BaseModel):
    """A snapshot of the bus's counters (trio-style `statistics()`).

    Attributes:
        transport: ``local`` or ``actor``.
        published: Messages accepted from publishers.
        delivered: Messages taken by subscribers.
        dropped: Messages dropped or refused, over every subscription (also past ones).
        unrouted: Messages published on a topic no one subscribed to.
        expired_subscriptions: Subscriptions dropped for not reading (dead or stuck).
        subscriptions: Each live subscription.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: str
    published: int
    delivered: int
    dropped: int
    unrouted: int
    expired_subscriptions: int
    subscriptions: tuple[SubscriptionStatistics, ...]

    def subscription(self, subscription_id: str) -> SubscriptionStatistics:
        """Return one subscription's statistics; raises `KeyError` if it is not live."""
        for sub in self.subscriptions:
            if sub.id == subscription_id:
                return sub
        raise KeyError(subscription_id)
