"""Circuit breakers and rate limits per pool, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import PublishPoolEvent, RetryPolicy, TaskState
from orchestrator.core.breaker import BreakerPolicy, BreakerState, CircuitBreaker
from orchestrator.core.rate_limit import RateLimit, TokenBucket

S = TaskState


# -- the breaker alone ------------------------------------------------------------------------


def test_breaker_opens_after_the_threshold_then_probes_once_after_the_cooldown() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=3, cooldown_s=10.0))
    assert breaker.allowance(0.0) is None
    assert breaker.failed(1.0) is None
    assert breaker.failed(2.0) is None
    assert breaker.failed(3.0) is BreakerState.OPEN
    assert breaker.allowance(12.9) == 0
    assert breaker.reopens_s() == 13.0
    assert breaker.allowance(13.0) == 1  # half open: one probe
    breaker.sent(1)
    assert breaker.allowance(13.5) == 0  # its outcome is awaited
    assert breaker.failed(14.0) is BreakerState.OPEN  # the probe failed: open again
    assert breaker.reopens_s() == 24.0
    assert breaker.allowance(24.0) == 1
    breaker.sent(1)
    assert breaker.succeeded() is BreakerState.CLOSED
    assert breaker.allowance(24.1) is None


def test_a_success_resets_the_count_of_failures() -> None:
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2))
    breaker.failed(0.0)
    assert breaker.succeeded() is None
    assert breaker.failed(1.0) is None  # one in a row again, not two
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("per_s", "burst", "taken", "at_s", "available", "next_s"),
    [
        (2.0, 1, 0, 0.0, 1, 0.0),
        (2.0, 1, 1, 0.0, 0, 0.5),
        (2.0, 1, 1, 0.5, 1, 0.5),
        (2.0, 3, 3, 0.0, 0, 0.5),
        (2.0, 3, 3, 1.0, 2, 1.0),
        (2.0, 3, 3, 10.0, 3, 10.0),  # never more than the burst
    ],
)
def test_token_bucket(
    per_s: float, burst: int, taken: int, at_s: float, available: int, next_s: float
) -> None:
    bucket = TokenBucket(RateLimit(per_s=per_s, burst=burst), now_s=0.0)
    bucket.take(taken, 0.0)
    assert bucket.available(at_s) == available
    assert bucket.next_token_s(at_s) == pytest.approx(next_s)


# -- in the scheduler ---------------------------------------------------------------------------


def test_an_open_breaker_holds_the_pools_work_until_a_probe_succeeds(
    driver: Any, spec: Any
) -> None:
    # Given a pool whose breaker opens after 2 failures in a row, with a 10 s cool-down
    breaker = BreakerPolicy(failure_threshold=2, cooldown_s=10.0)
    tasks = [spec.task(f"t{i}", retry=RetryPolicy(max_attempts=1)) for i in range(5)]
    workflow = spec.workflow(*tasks, agents=[spec.agent("worker", replicas=2, breaker=breaker)])
    commands = driver.submit(workflow)
    assert sorted(commands.dispatched_ids) == ["t0", "t1"]
    # When both fail
    commands = driver.finish(*commands.orders, ok=False)
    # Then the breaker opens (published), and nothing more is sent
    [event] = commands.of(PublishPoolEvent)
    assert (event.pool, event.event, event.state) == ("worker", "breaker", "open")
    assert commands.dispatches == []
    assert driver.scheduler.statistics().pools["worker"].breaker == "open"
    opened_at = driver.clock.now_s()
    assert driver.scheduler.next_wakeup_s() == pytest.approx(opened_at + 10.0)
    assert driver.tick(opened_at + 9.9).dispatches == []
    # When the cool-down ends, exactly one probe goes
    commands = driver.tick(opened_at + 10.0)
    assert len(commands.orders) == 1
    # When it succeeds, the breaker closes and the rest go
    commands = driver.finish(*commands.orders)
    [event] = commands.of(PublishPoolEvent)
    assert event.state == "closed"
    assert len(commands.orders) == 2
    assert driver.scheduler.statistics().pools["worker"].breaker == "closed"


def test_a_rate_limited_pool_waits_for_tokens_without_holding_up_another(
    driver: Any, spec: Any
) -> None:
    # Given an API agent allowed 2 attempts a second (burst 1), and a free pool beside it
    limit = RateLimit(per_s=2.0, burst=1)
    workflow = spec.workflow(
        *(spec.task(f"api{i}", agent="api") for i in range(4)),
        *(spec.task(f"cpu{i}", agent="cpu") for i in range(4)),
        agents=[
            spec.agent("api", replicas=4, rate_limit=limit),
            spec.agent("cpu", replicas=4),
        ],
    )
    start_s = driver.clock.now_s()
    commands = driver.submit(workflow)
    # Then one API attempt goes now, every CPU task too
    sent = commands.dispatched_ids
    assert sum(name.startswith("api") for name in sent) == 1
    assert sum(name.startswith("cpu") for name in sent) == 4
    # And the next API attempts go one every half second
    times = []
    for _ in range(3):
        wakeup = driver.scheduler.next_wakeup_s()
        assert wakeup is not None
        commands = driver.tick(wakeup)
        assert len([o for o in commands.orders if o.task_id.startswith("api")]) == 1
        times.append(wakeup - start_s)
    assert times == pytest.approx([0.5, 1.0, 1.5])
