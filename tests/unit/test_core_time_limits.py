"""Time limits beyond one attempt's timeout: heartbeat timeouts and schedule-to-close."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import AttemptProgress, AttemptsProgressed, RetryPolicy, TaskState

S = TaskState


def progress(order: Any, at_s: float, details: Any = None) -> AttemptsProgressed:
    return AttemptsProgressed(progress=(AttemptProgress(order.attempt_id, at_s, details),))


def test_an_attempt_that_falls_silent_is_charged_and_its_agent_stopped(
    driver: Any, spec: Any
) -> None:
    # Given a task that must report progress every 10 s, allowed a second attempt
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry, heartbeat_timeout_s=10.0)))
    [order] = commands.orders
    start_s = driver.clock.now_s()
    assert driver.scheduler.next_wakeup_s() == pytest.approx(start_s + 10.0)
    # When it reports at +8 s, it is checked again at +18 s, not stopped at +10 s
    driver.send(progress(order, start_s + 8.0, {"step": 1}))
    assert driver.tick(start_s + 10.0).states("t") == []
    assert driver.scheduler.next_wakeup_s() == pytest.approx(start_s + 18.0)
    # When it then falls silent past +18 s
    commands = driver.tick(start_s + 18.0)
    # Then the attempt is charged (HeartbeatTimeout), its agent stopped, and it is retried
    # at once (no backoff) with its last reported details
    assert commands.states("t") == [S.RETRY_WAIT]
    assert "HeartbeatTimeout" in commands.task_events[0].message
    assert "fell silent" in commands.stopped_reasons()[0]
    [again] = commands.orders
    assert (again.attempt, again.last_heartbeat) == (2, {"step": 1})
    assert driver.scheduler.task_info("wf", "t").error_type == "HeartbeatTimeout"


def test_an_attempt_that_keeps_reporting_is_never_stopped(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("t", heartbeat_timeout_s=5.0)))
    [order] = commands.orders
    start_s = driver.clock.now_s()
    for step in range(1, 20):
        driver.send(progress(order, start_s + 4.0 * step))
        assert driver.tick(start_s + 4.0 * step + 1.0).stopped == []
    commands = driver.finish(order)
    assert commands.states("t") == [S.SUCCEEDED]


def test_schedule_to_close_fails_a_task_across_its_attempts(driver: Any, spec: Any) -> None:
    # Given a task retried after each failure but allowed 30 s from first ready to its end
    retry = RetryPolicy(max_attempts=10, initial_backoff_s=5.0, backoff_multiplier=1.0)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry, schedule_to_close_s=30.0)))
    start_s = driver.clock.now_s()
    # When it keeps failing (each attempt takes 1 s, each retry waits 5 s)
    while commands.orders:
        commands = driver.finish(*commands.orders, ok=False)
        commands = driver.tick(driver.scheduler.next_wakeup_s())
    # Then it fails at 30 s, whatever its attempts left, naming the limit
    info = driver.scheduler.task_info("wf", "t")
    assert (info.state, info.error_type) == (S.FAILED, "ScheduleToCloseTimeout")
    assert driver.clock.now_s() == pytest.approx(start_s + 30.0)
    assert info.attempts < 10


def test_schedule_to_close_stops_a_running_attempt(driver: Any, spec: Any) -> None:
    commands = driver.submit(
        spec.workflow(
            spec.task("slow", schedule_to_close_s=10.0), spec.task("next", depends_on=["slow"])
        )
    )
    [order] = commands.orders
    commands = driver.tick(driver.clock.now_s() + 10.0)
    assert commands.states("slow") == [S.FAILED]
    assert commands.states("next") == [S.SKIPPED]
    assert commands.stopped == ["worker#1"]
    info = driver.scheduler.task_info("wf", "slow")
    assert info.error_type == "ScheduleToCloseTimeout"
    assert "schedule_to_close_s" in (info.error_message or "")
    # Its outcome, should it still arrive, is ignored
    assert driver.finish(order) == []
    assert driver.state("slow") is S.FAILED


def test_schedule_to_close_of_a_task_that_ended_in_time_does_nothing(
    driver: Any, spec: Any
) -> None:
    commands = driver.submit(spec.workflow(spec.task("t", schedule_to_close_s=10.0)))
    driver.finish(*commands.orders)
    assert driver.tick(driver.clock.now_s() + 10.0).task_events == []
    assert driver.state("t") is S.SUCCEEDED


def test_the_heartbeat_clock_starts_when_the_agent_marks_the_handlers_start(
    driver: Any, spec: Any
) -> None:
    # Given a task with a 10 s heartbeat timeout whose agent is slow to start
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry, heartbeat_timeout_s=10.0)))
    [order] = commands.orders
    start_s = driver.clock.now_s()
    # Then no silence is counted before the handler starts
    assert driver.tick(start_s + 10.0).stopped == []
    assert driver.tick(start_s + 20.0).stopped == []
    # When the agent marks the start at +25 s (the mark carries no details)
    driver.send(
        AttemptsProgressed(
            progress=(AttemptProgress(order.attempt_id, start_s + 25.0, reported=False),)
        )
    )
    assert driver.tick(start_s + 34.0).stopped == []
    # Then the silence counts from there, and the retry gets no details from the mark
    commands = driver.tick(start_s + 35.0)
    assert commands.stopped == ["worker#1"]
    [again] = commands.orders
    assert (again.attempt, again.last_heartbeat) == (2, None)
