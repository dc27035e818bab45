"""The bus's conformance suite: the same behaviour on every transport (see conftest)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from pydantic import BaseModel

from orchestrator.runtime.bus import (
    Bus,
    BusMessage,
    BusOverflowError,
    BusTimeoutError,
    MessageTooLargeError,
    Overflow,
    Subscription,
    SubscriptionClosedError,
)
from tests.bus.conftest import LEASE_S, BusFactory


def _drain(sub: Subscription, count: int, timeout_s: float = 30.0) -> list[BusMessage]:
    """Read ``count`` messages (fewer if ``timeout_s`` passes first)."""
    got: list[BusMessage] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        got.extend(sub.get_batch(count - len(got), 0.5))
    return got


def test_order_per_publisher_holds(make_bus: BusFactory) -> None:
    # Given two publishers writing at once, and one subscriber
    bus = make_bus("reader")
    sub = bus.subscribe("orders.*", capacity=100_000)
    publishers = [make_bus(f"pub-{n}") for n in range(2)]

    def write(publisher: Bus) -> None:
        for index in range(3000):
            publisher.publish("orders.new", {"n": index})
        publisher.flush()

    threads = [threading.Thread(target=write, args=(p,)) for p in publishers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then each publisher's messages arrive in the order it sent them
    got = _drain(sub, 6000)
    assert len(got) == 6000
    for publisher in publishers:
        mine = [m for m in got if m.sender == publisher.name]
        assert [m.payload for m in mine] == [{"n": i} for i in range(3000)]
        assert [m.seq for m in mine] == sorted(m.seq for m in mine)


def test_block_loses_nothing_and_shows_the_wait(make_bus: BusFactory) -> None:
    bus = make_bus()
    sub = bus.subscribe("work", capacity=10, overflow="block")
    publisher = make_bus("fast")
    total = 2000

    def write() -> None:
        for index in range(total):
            publisher.publish("work", index)
        publisher.flush()

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.3)  # the publisher fills the buffer and waits
    assert bus.statistics().subscription(sub.id).depth == 10
    got: list[Any] = []
    while len(got) < total:
        got.extend(m.payload for m in sub.get_batch(7, 10.0))
    thread.join(30)
    assert not thread.is_alive()
    assert got == list(range(total))
    stats = bus.statistics()
    assert stats.dropped == 0
    assert stats.subscription(sub.id).blocked_s > 0


def test_drop_oldest_keeps_the_newest_and_counts_drops(make_bus: BusFactory) -> None:
    bus = make_bus()
    sub = bus.subscribe("ticks", capacity=10, overflow=Overflow.DROP_OLDEST)
    for index in range(100):
        bus.publish("ticks", index)
    bus.flush()
    assert [m.payload for m in _drain(sub, 10)] == list(range(90, 100))
    stats = bus.statistics()
    assert stats.subscription(sub.id).dropped == 90
    assert stats.dropped == 90
    assert sub.get_batch(10, 0.2) == []


def test_fail_raises_to_the_publisher(make_bus: BusFactory) -> None:
    bus = make_bus()
    sub = bus.subscribe("strict", capacity=5, overflow="fail")
    other = bus.subscribe("strict", capacity=100, overflow="drop_oldest")
    with pytest.raises(BusOverflowError) as caught:
        for index in range(10):
            bus.publish("strict", index)
        bus.flush()
    assert caught.value.subscription == sub.id
    assert caught.value.topic == "strict"
    assert [m.payload for m in _drain(sub, 5)] == [0, 1, 2, 3, 4]
    # The refused message went to no one, not even to the subscription with room
    assert [m.payload for m in _drain(other, 5)] == [0, 1, 2, 3, 4]
    assert other.get_batch(10, 0.2) == []
    assert bus.statistics().subscription(sub.id).dropped >= 1


def test_a_dead_subscriber_does_not_block_the_others(make_bus: BusFactory) -> None:
    # Given a subscriber that stops reading for good (it died), and a live one
    bus = make_bus()
    dead = bus.subscribe("feed", capacity=5, overflow="block")
    live = bus.subscribe("feed", capacity=1000, overflow="block")
    publisher = make_bus("publisher")
    started = time.monotonic()
    # When 50 messages are published (the dead one's buffer holds 5)
    for index in range(50):
        publisher.publish("feed", index)
    publisher.flush()
    # Then the publisher was held at most about the lease, and the live one has all
    assert time.monotonic() - started < LEASE_S + 15
    assert [m.payload for m in _drain(live, 50)] == list(range(50))
    stats = bus.statistics()
    assert stats.expired_subscriptions == 1
    assert [s.id for s in stats.subscriptions] == [live.id]
    with pytest.raises(SubscriptionClosedError, match="read none"):
        dead.get_batch(10, 0.1)


def test_a_killed_subscriber_actor_does_not_block_the_others(
    make_bus: BusFactory, transport: str
) -> None:
    if transport != "actor":
        pytest.skip("a subscriber in another process: the actor transport only")
    import ray

    from orchestrator.runtime.bus.actor import ActorBus

    bus: Any = make_bus()

    @ray.remote(num_cpus=0)
    class Reader:
        def __init__(self, handle: Any) -> None:
            self.bus = ActorBus(handle, "reader")
            self.sub = self.bus.subscribe("feed", capacity=5, overflow="block")

        def ready(self) -> bool:
            return True

        def read(self) -> list[Any]:
            return [m.payload for m in self.sub.get_batch(5, 5.0)]

    reader = Reader.remote(bus.handle)  # type: ignore[attr-defined]
    assert ray.get(reader.ready.remote())  # subscribed
    live = bus.subscribe("feed", capacity=1000)
    bus.publish("feed", -1)
    bus.flush()
    assert ray.get(reader.read.remote()) == [-1]
    ray.kill(reader)
    for index in range(40):
        bus.publish("feed", index)
    bus.flush()
    assert [m.payload for m in _drain(live, 41)] == [-1, *range(40)]
    assert bus.statistics().expired_subscriptions == 1


def test_a_slow_subscriber_shows_in_statistics(make_bus: BusFactory) -> None:
    bus = make_bus()
    slow = bus.subscribe("events.*", capacity=100, overflow="drop_oldest")
    for index in range(30):
        bus.publish("events.x", index)
    bus.flush()
    time.sleep(0.3)
    stats = bus.statistics().subscription(slow.id)
    assert stats.depth == 30
    assert stats.idle_s >= 0.2
    assert stats.delivered == 0
    _drain(slow, 30)
    after = bus.statistics().subscription(slow.id)
    assert (after.depth, after.delivered) == (0, 30)


def test_request_times_out_without_a_responder(make_bus: BusFactory) -> None:
    bus = make_bus()
    started = time.monotonic()
    with pytest.raises(BusTimeoutError, match=r"agent\.nobody"):
        bus.request("agent.nobody", {"q": 1}, timeout_s=0.5)
    assert time.monotonic() - started >= 0.5
    with pytest.raises(ValueError, match="timeout_s"):
        bus.request("agent.nobody", None, timeout_s=0)


def test_replies_by_agent_id_and_by_pool(make_bus: BusFactory) -> None:
    # Given one agent answering on its id, and a pool of two answering as a group
    bus = make_bus("planner")
    alone = make_bus("agent-a1").serve("agent.a1", lambda m: {"me": "a1", "got": m.payload})

    def worker(name: str) -> Any:
        return lambda m: {"me": name, "got": m.payload}

    workers = [
        make_bus(f"agent-w{n}").serve("pool.workers", worker(f"w{n}"), group="workers")
        for n in range(2)
    ]
    try:
        reply = bus.request("agent.a1", "hello", timeout_s=10)
        assert reply.payload == {"me": "a1", "got": "hello"}
        answers = [bus.request("pool.workers", i, timeout_s=10).payload for i in range(20)]
        # Then every request got exactly one reply, from one of the pool
        assert [a["got"] for a in answers] == list(range(20))  # type: ignore[index,call-overload]
        assert sum(w.served for w in workers) == 20
        assert all(w.served > 0 for w in workers)
    finally:
        for responder in (alone, *workers):
            responder.stop()


def test_a_failing_responder_replies_with_the_error(make_bus: BusFactory) -> None:
    bus = make_bus()

    def broken(message: BusMessage) -> Any:
        raise RuntimeError("no capacity")

    responder = make_bus("agent-x").serve("agent.x", broken)
    try:
        reply = bus.request("agent.x", None, timeout_s=10)
        assert reply.payload == {"error": "RuntimeError: no capacity"}
    finally:
        responder.stop()


class Job(BaseModel):
    """A typed payload."""

    name: str
    size: int


def test_typed_payloads_round_trip(make_bus: BusFactory) -> None:
    bus = make_bus()
    sub = bus.subscribe("jobs")
    bus.publish("jobs", Job(name="a", size=3))
    bus.flush()
    (message,) = _drain(sub, 1)
    assert message.payload_type is not None and message.payload_type.endswith("Job")
    assert message.parse(Job) == Job(name="a", size=3)


def test_bad_messages_are_refused_naming_the_field(make_bus: BusFactory) -> None:
    bus = make_bus(max_message_bytes=100)
    with pytest.raises(MessageTooLargeError, match="max_message_bytes"):
        bus.publish("big", "x" * 200)
    with pytest.raises(ValueError, match="not JSON-shaped"):
        bus.publish("odd", {"when": object()})
    with pytest.raises(ValueError, match="not JSON-shaped"):
        bus.publish("odd", {1: "int key"})
    with pytest.raises(ValueError, match="topic"):
        bus.publish("bad topic!", 1)
    with pytest.raises(ValueError, match="capacity"):
        bus.subscribe("x", capacity=0)
    with pytest.raises(ValueError, match="overflow"):
        bus.subscribe("x", overflow="sometimes")
    with pytest.raises(ValueError, match="topics"):
        bus.subscribe("a.*.b")
    assert bus.statistics().published == 0


def test_patterns_filters_and_unsubscribe(make_bus: BusFactory) -> None:
    bus = make_bus()
    everything = bus.subscribe("*", capacity=100)
    tasks = bus.subscribe("task.*", capacity=100, where={"workflow_id": "w1"})
    bus.publish("task.failed", {"workflow_id": "w1", "task_id": "a"})
    bus.publish("task.failed", {"workflow_id": "w2", "task_id": "b"})
    bus.publish("workflow.finished", {"workflow_id": "w1"})
    bus.flush()
    assert [m.topic for m in _drain(everything, 3)] == [
        "task.failed",
        "task.failed",
        "workflow.finished",
    ]
    assert [m.payload for m in _drain(tasks, 1)] == [{"workflow_id": "w1", "task_id": "a"}]
    assert tasks.get_batch(10, 0.2) == []
    tasks.unsubscribe()
    with pytest.raises(SubscriptionClosedError, match="unsubscribed"):
        tasks._fetch(1, 0.0)
    bus.publish("nowhere.at.all", 1)
    bus.flush()
    everything.unsubscribe()
    bus.publish("nowhere.at.all", 2)
    bus.flush()
    assert bus.statistics().unrouted == 1


def test_async_iteration(make_bus: BusFactory) -> None:
    bus = make_bus()
    sub = bus.subscribe("stream")
    for index in range(5):
        bus.publish("stream", index)
    bus.flush()

    async def read() -> list[Any]:
        got = []
        async for message in sub:
            got.append(message.payload)
            if len(got) == 5:
                break
        return got

    assert asyncio.run(read()) == [0, 1, 2, 3, 4]
