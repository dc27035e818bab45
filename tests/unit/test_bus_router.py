"""`Router`: the bus's pure bookkeeping, on a fake clock (no Ray, no threads)."""

from __future__ import annotations

import pytest

from orchestrator.runtime.bus.messages import (
    BusMessage,
    Overflow,
    SubscriptionClosedError,
    topic_word,
)
from orchestrator.runtime.bus.router import Router


def _msg(topic: str, payload: object = None, seq: int = 0) -> BusMessage:
    return BusMessage(topic=topic, payload=payload, sender="p", seq=seq)


def test_peek_leaves_messages_until_ack_and_resume_takes_the_subscription_up() -> None:
    router = Router()
    assert router.subscribe("s", ["t.*"], capacity=10, overflow=Overflow.BLOCK, now_s=0.0)
    router.offer([_msg("t.a", n) for n in range(3)], now_s=0.0)
    assert [m.payload for m in router.peek("s", 2, now_s=1.0)] == [0, 1]
    assert [m.payload for m in router.peek("s", 2, now_s=1.0)] == [0, 1]  # not taken
    # A reader that restarts resumes the same subscription, messages and all
    assert not router.subscribe(
        "s", ["t.*"], capacity=10, overflow=Overflow.BLOCK, now_s=2.0, resume=True
    )
    router.ack("s", 2)
    assert [m.payload for m in router.take("s", 10, now_s=3.0)] == [2]
    with pytest.raises(ValueError, match="subscription_id"):
        router.subscribe("s", ["t.*"], capacity=10, overflow=Overflow.BLOCK, now_s=3.0)


def test_a_group_shares_messages_and_a_full_member_is_passed_over() -> None:
    router = Router()
    for name in ("a", "b"):
        router.subscribe(name, ["pool.w"], capacity=2, overflow=Overflow.BLOCK, now_s=0, group="w")
    assert router.offer([_msg("pool.w", n) for n in range(4)], now_s=0) == 4
    assert router.depth("a") == 2 and router.depth("b") == 2
    # Both full: the next message waits (block), named by the member it waits for
    assert router.offer([_msg("pool.w", 4)], now_s=0) == 0
    assert router.blocked_by in {"a", "b"}
    router.take("a", 1, now_s=1)
    assert router.offer([_msg("pool.w", 4)], now_s=1) == 1
    assert router.depth("a") == 2


def test_only_full_blocking_subscriptions_past_their_lease_expire() -> None:
    router = Router()
    router.subscribe("full", ["t"], capacity=1, overflow=Overflow.BLOCK, now_s=0)
    router.subscribe("slow", ["t"], capacity=100, overflow=Overflow.BLOCK, now_s=0)
    router.subscribe("lossy", ["t"], capacity=1, overflow=Overflow.DROP_OLDEST, now_s=0)
    router.offer([_msg("t", 1)], now_s=0)
    assert router.expire(now_s=5, lease_s=10) == []
    assert router.expire(now_s=11, lease_s=10) == ["full"]
    assert not router.is_live("full") and router.is_live("slow") and router.is_live("lossy")
    with pytest.raises(SubscriptionClosedError, match="full and read none for 10 s"):
        router.take("full", 1, now_s=12)
    stats = router.statistics(now_s=12, transport="test")
    assert stats.expired_subscriptions == 1
    assert stats.subscription("slow").idle_s == 12


def test_topic_words() -> None:
    assert topic_word("Planner#1") == "Planner_1"
    assert topic_word("functions[cpu=1]") == "functions_cpu_1_"
    assert topic_word("a.b") == "a_b"
    assert topic_word("") == "_"
