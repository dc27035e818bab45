"""Every bus test runs on every transport: in-process (`LocalBus`) and the bus actor.

The actor transport gets one local Ray for the session (started only if a test needs
it) and a fresh bus actor per test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestrator.runtime.bus import Bus, LocalBus

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

TRANSPORTS = ("local", "actor")
#: Subscriptions holding messages and reading none for this long are dropped (tests).
LEASE_S = 1.0
_names = itertools.count()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray per module of actor-transport tests, shut down at its end.

    Not per session: the modules after these (cluster, integration) start Rays of their
    own, and Ray allows one per process at a time.
    """
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


BusFactory = Callable[..., Bus]


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """The transport under test."""
    name: str = request.param
    if name == "actor":
        request.getfixturevalue("local_ray")
    return name


@pytest.fixture
def make_bus(transport: str) -> Iterator[BusFactory]:
    """Return a factory of bus clients: the first makes the bus, the next join it."""
    made: list[Bus] = []

    def factory(name: str | None = None, *, max_message_bytes: int | None = None) -> Bus:
        bus: Bus
        if made:
            first: Any = made[0]
            bus = first.client(name or f"client-{next(_names)}")
        elif transport == "local":
            bus = LocalBus(name, subscriber_lease_s=LEASE_S, max_message_bytes=max_message_bytes)
        else:
            from orchestrator.runtime.bus.actor import ActorBus, get_or_create_bus_actor

            handle = get_or_create_bus_actor(
                f"test-bus-{os.getpid()}-{next(_names)}", "bus-tests", subscriber_lease_s=LEASE_S
            )
            bus = ActorBus(handle, name, max_message_bytes=max_message_bytes)
        made.append(bus)
        return bus

    yield factory
    for bus in reversed(made):
        # A test that left an error to raise checked it there.
        with contextlib.suppress(Exception):
            bus.close()
    if transport == "actor" and made:
        import ray

        ray.kill(made[0].handle)  # type: ignore[attr-defined]
