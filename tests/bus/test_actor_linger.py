"""The actor transport's linger: messages published close together ship as one batch."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from orchestrator.runtime.bus.actor import ActorBus, get_or_create_bus_actor


@pytest.fixture
def bus_actor(local_ray: None) -> Iterator[Any]:
    import ray

    handle = get_or_create_bus_actor(
        f"linger-{os.getpid()}-{time.time_ns()}", "bus-tests", subscriber_lease_s=5.0
    )
    yield handle
    ray.kill(handle)


def _read(sub: Any, count: int, timeout_s: float = 10.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got.extend(sub.get_batch(count - len(got), 0.5))
    return got


def test_messages_published_within_the_linger_ship_together_in_order(bus_actor: Any) -> None:
    # Given a reader, and a publisher lingering 0.3 s
    reader = ActorBus(bus_actor, "reader")
    sub = reader.subscribe("events.*", capacity=1000)
    publisher = ActorBus(bus_actor, "supervisor", linger_s=0.3)
    try:
        # When 40 messages are published one by one, 2 ms apart
        for index in range(40):
            publisher.publish("events.task", {"n": index})
            time.sleep(0.002)
        publisher.flush()
        # Then they went in one or two actor calls (not 40), and all arrive, in order
        assert 1 <= publisher.batches_shipped <= 2
        got = _read(sub, 40)
        assert [m.payload["n"] for m in got] == list(range(40))
    finally:
        publisher.close()
        reader.close()


def test_closing_a_lingering_publisher_ships_what_it_holds(bus_actor: Any) -> None:
    reader = ActorBus(bus_actor, "reader")
    sub = reader.subscribe("events.*", capacity=1000)
    publisher = ActorBus(bus_actor, "supervisor", linger_s=30.0)
    try:
        publisher.publish("events.task", {"n": 1})
        started = time.monotonic()
        publisher.close()  # does not wait out the 30 s linger
        assert time.monotonic() - started < 10.0
        assert [m.payload for m in _read(sub, 1)] == [{"n": 1}]
    finally:
        reader.close()
