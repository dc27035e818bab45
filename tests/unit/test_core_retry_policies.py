"""Retry policies: jitter, exceptions that are never retried, a workflow's retry budget."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import AttemptOutcome, AttemptsFinished, RetryPolicy, TaskState

S = TaskState


@pytest.mark.parametrize(
    ("jitter", "draw", "expected_s"),
    [
        ("none", 0.0, 4.0),
        ("none", 1.0, 4.0),
        ("full", 0.0, 0.0),
        ("full", 0.25, 1.0),
        ("full", 1.0, 4.0),
        ("equal", 0.0, 2.0),
        ("equal", 0.5, 3.0),
        ("equal", 1.0, 4.0),
    ],
)
def test_jitter_places_the_wait_within_its_range(
    jitter: str, draw: float, expected_s: float
) -> None:
    policy = RetryPolicy.model_validate(
        {"initial_backoff_s": 1.0, "backoff_multiplier": 2.0, "jitter": jitter}
    )
    assert policy.backoff_s(3, draw) == pytest.approx(expected_s)  # 1 * 2**2 = 4 s


def test_jittered_retries_of_tasks_that_failed_together_spread_out(driver: Any, spec: Any) -> None:
    # Given 20 tasks that fail at the same instant, with full jitter
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=10.0, jitter="full")
    commands = driver.submit(
        spec.workflow(
            *(spec.task(f"t{i}", retry=retry) for i in range(20)),
            agents=[spec.agent("worker", replicas=20)],
        )
    )
    failed_at = driver.clock.now_s() + 1.0
    commands = driver.finish(*commands.orders, ok=False)
    waits = sorted(
        float(e.message.split("retry at +")[1].rstrip("s"))
        for e in commands.task_events
        if e.state is S.RETRY_WAIT
    )
    # Then their retries are spread over the 10 s window, not all at once
    assert len(waits) == 20
    assert all(0.0 <= wait <= 10.0 for wait in waits)
    assert waits[-1] - waits[0] > 5.0
    assert len(set(waits)) > 15
    # And the draw is deterministic: the same run gives the same waits
    assert driver.scheduler.next_wakeup_s() == pytest.approx(failed_at + waits[0], abs=0.01)


def _failure(order: Any, error_type: str, lineage: tuple[str, ...]) -> AttemptsFinished:
    return AttemptsFinished(
        outcomes=(
            AttemptOutcome(
                order.attempt_id,
                False,
                0.0,
                1.0,
                error_type=error_type,
                error_message="bad",
                error_lineage=lineage,
            ),
        )
    )


@pytest.mark.parametrize(
    ("listed", "error_type", "lineage", "retried"),
    [
        (("KeyError",), "KeyError", ("builtins.KeyError", "builtins.LookupError"), False),
        (("LookupError",), "KeyError", ("builtins.KeyError", "builtins.LookupError"), False),
        (("builtins.KeyError",), "KeyError", ("builtins.KeyError",), False),
        (("app.errors.Invalid",), "Invalid", ("app.errors.Invalid", "builtins.ValueError"), False),
        (("KeyError",), "ValueError", ("builtins.ValueError", "builtins.Exception"), True),
        ((), "KeyError", ("builtins.KeyError",), True),
    ],
)
def test_listed_exceptions_and_their_subclasses_are_never_retried(
    driver: Any,
    spec: Any,
    listed: tuple[str, ...],
    error_type: str,
    lineage: tuple[str, ...],
    retried: bool,
) -> None:
    retry = RetryPolicy(max_attempts=3, non_retryable=listed)
    [order] = driver.submit(spec.workflow(spec.task("t", retry=retry))).orders
    commands = driver.send(_failure(order, error_type, lineage))
    assert commands.states("t") == ([S.RETRY_WAIT] if retried else [S.FAILED])
    if not retried:
        assert "not retryable" in commands.task_events[0].message


def test_the_workflow_retry_budget_caps_retries_of_all_tasks_together(
    driver: Any, spec: Any
) -> None:
    # Given three tasks allowed 5 attempts each, in a workflow with a budget of 2 retries
    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.0)
    workflow = spec.workflow(
        *(spec.task(f"t{i}", retry=retry) for i in range(3)),
        agents=[spec.agent("worker", replicas=3)],
    ).model_copy(update={"retry_budget": 2})
    commands = driver.submit(workflow)
    # When all three fail at once
    commands = driver.finish(*commands.orders, ok=False)
    # Then two are retried and the third fails for good, saying why
    states = sorted(e.state for e in commands.task_events)
    assert states == sorted([S.RETRY_WAIT, S.RETRY_WAIT, S.FAILED])
    failed = next(e for e in commands.task_events if e.state is S.FAILED)
    assert "retry budget is spent" in failed.message
    # And once spent, no task gets another retry
    commands = driver.tick()
    commands = driver.finish(*commands.orders, ok=False)
    assert [e.state for e in commands.task_events if e.task_id != "wf"].count(S.RETRY_WAIT) == 0
