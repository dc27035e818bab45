"""The message bus: topics with publish/subscribe and request/reply, behind one interface.

- `messages`: `BusMessage`, overflow policies, errors, statistics;
- `router`: the pure bookkeeping (buffers, routing, drops) every transport keeps;
- `interface`: `Bus` and `Subscription`, what callers use;
- `local`: `LocalBus`, the in-process transport;
- `actor`: `ActorBus`, the default transport (a bus actor holding the mailboxes).
"""

from orchestrator.runtime.bus.interface import Bus, Responder, Subscription
from orchestrator.runtime.bus.local import LocalBus
from orchestrator.runtime.bus.messages import (
    BusError,
    BusMessage,
    BusOverflowError,
    BusStatistics,
    BusTimeoutError,
    MessageTooLargeError,
    Overflow,
    SubscriptionClosedError,
    SubscriptionStatistics,
)

__all__ = [
    "Bus",
    "BusError",
    "BusMessage",
    "BusOverflowError",
    "BusStatistics",
    "BusTimeoutError",
    "LocalBus",
    "MessageTooLargeError",
    "Overflow",
    "Responder",
    "Subscription",
    "SubscriptionClosedError",
    "SubscriptionStatistics",
]
