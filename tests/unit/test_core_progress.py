"""Progress heartbeats: a retried attempt receives the last details its task reported."""

from __future__ import annotations

from typing import Any

from orchestrator.core import AttemptProgress, AttemptsProgressed, RetryPolicy


def test_retry_receives_the_last_reported_details(driver: Any, spec: Any) -> None:
    # Given a task allowed two attempts whose first attempt reported progress twice
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    (order,) = driver.submit(spec.workflow(spec.task("crawl", retry=retry))).orders
    assert order.last_heartbeat is None
    driver.send(
        AttemptsProgressed(
            progress=(
                AttemptProgress(order.attempt_id, 1.0, {"page": 3}),
                AttemptProgress(order.attempt_id, 2.0, {"page": 7}),
            )
        )
    )
    # When the attempt fails and is retried
    driver.finish(order, ok=False)
    (retry_order,) = driver.tick().orders
    # Then the retry starts from the last details
    assert retry_order.attempt == 2
    assert retry_order.last_heartbeat == {"page": 7}


def test_progress_of_an_attempt_given_up_on_is_ignored(driver: Any, spec: Any) -> None:
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.0)
    (order,) = driver.submit(spec.workflow(spec.task("t", retry=retry))).orders
    driver.finish(order, ok=False)
    # A late report from the failed attempt arrives after its outcome
    driver.send(AttemptsProgressed(progress=(AttemptProgress(order.attempt_id, 9.0, "late"),)))
    (retry_order,) = driver.tick().orders
    assert retry_order.last_heartbeat is None
