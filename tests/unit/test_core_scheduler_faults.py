"""`Scheduler` under failure: retries, skips, lost agents, timeouts, stale outcomes, cancel."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.core import (
    AgentLost,
    AttemptsFinished,
    RetryPolicy,
    StopAgent,
    TaskState,
    Tick,
    WorkflowCancelRequested,
    WorkflowState,
)
from orchestrator.core.events import LossCause

S = TaskState


def lost(agent_id: str, cause: LossCause = "died") -> AgentLost:
    return AgentLost(agent_id=agent_id, cause=cause, reason="simulated")


# -- retries ----------------------------------------------------------------------------------


def test_retry_waits_for_the_backoff_then_stops_after_max_attempts(driver: Any, spec: Any) -> None:
    # Given a task allowed 3 attempts, waiting 2 s then 6 s between them
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=2.0, backoff_multiplier=3.0)
    commands = driver.submit(spec.workflow(spec.task("flaky", retry=retry)))
    assert driver.scheduler.next_wakeup_s() is None

    # When the first attempt fails
    commands = driver.finish(*commands.orders, ok=False, error_type="ValueError")
    failed_at = driver.clock.now_s()
    # Then the task waits, nothing is dispatched, and a tick is wanted 2 s later
    assert commands.states("flaky") == [S.RETRY_WAIT]
    assert "retry at +2.00s" in commands.task_events[0].message
    assert "ValueError" in commands.task_events[0].message
    assert commands.dispatches == []
    assert driver.state("flaky") is S.RETRY_WAIT
    assert driver.scheduler.next_wakeup_s() == pytest.approx(failed_at + 2.0)
    # A tick just before the backoff does nothing
    assert driver.tick(failed_at + 1.99).dispatches == []
    # A tick at the backoff re-dispatches as attempt 2
    commands = driver.tick(failed_at + 2.0)
    assert [(o.task_id, o.attempt) for o in commands.orders] == [("flaky", 2)]

    # When attempt 2 fails, the wait grows to 6 s
    commands = driver.finish(*commands.orders, ok=False)
    failed_at = driver.clock.now_s()
    assert driver.scheduler.next_wakeup_s() == pytest.approx(failed_at + 6.0)
    assert driver.tick(failed_at + 5.9).dispatches == []
    commands = driver.tick(failed_at + 6.0)
    assert [o.attempt for o in commands.orders] == [3]

    # When the third (last) attempt fails, the task and the workflow fail for good
    commands = driver.finish(*commands.orders, ok=False, error_type="KeyError")
    assert commands.states("flaky") == [S.FAILED]
    assert commands.workflow_events[0].state is WorkflowState.FAILED
    info = driver.scheduler.task_info("wf", "flaky")
    assert (info.attempts, info.error_type) == (3, "KeyError")
    assert info.error_message == "flaky attempt 3 failed"
    assert info.traceback is not None
    driver.clock.advance(100)
    assert driver.send(Tick()).dispatches == []


def test_a_retry_that_succeeds_ends_the_workflow_well(driver: Any, spec: Any) -> None:
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=1.0)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry)))
    driver.finish(*commands.orders, ok=False)
    commands = driver.tick(driver.clock.now_s() + 1.0)
    commands = driver.finish(*commands.orders)
    assert commands.states("t") == [S.SUCCEEDED]
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED


def test_non_retryable_failure_fails_at_once(driver: Any, spec: Any) -> None:
    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.0)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry)))
    commands = driver.finish(*commands.orders, ok=False, retryable=False, error_type="Fatal")
    assert commands.states("t") == [S.FAILED]
    assert "Fatal" in commands.task_events[0].message
    # No retry timer: the only wakeup left is for retiring the idle agent
    idle_timeout_s = 30.0
    assert driver.scheduler.next_wakeup_s() == driver.clock.now_s() + idle_timeout_s
    assert driver.tick().dispatches == []


def test_failure_skips_every_descendant_and_fails_the_workflow(driver: Any, spec: Any) -> None:
    # Given  a -> b -> c,  a -> d,  (c, e) -> f,  and e on its own
    workflow = spec.workflow(
        spec.task("a"),
        spec.task("b", depends_on=["a"]),
        spec.task("c", depends_on=["b"]),
        spec.task("d", depends_on=["a"]),
        spec.task("e"),
        spec.task("f", depends_on=["c", "e"]),
        agents=[spec.agent("worker", replicas=2)],
    )
    commands = driver.submit(workflow)
    orders = {o.task_id: o for o in commands.orders}
    assert set(orders) == {"a", "e"}
    # When a fails (no retry) and e succeeds
    commands = driver.finish(orders["a"], ok=False)
    # Then everything below a is skipped at once, naming a
    assert commands.states("a") == [S.FAILED]
    skipped = {e.task_id for e in commands.task_events if e.state is S.SKIPPED}
    assert skipped == {"b", "c", "d", "f"}
    assert "upstream task 'a' failed" in driver.scheduler.task_info("wf", "f").error_message
    assert commands.workflow_events == []  # e is still running
    commands = driver.finish(orders["e"])
    assert commands.dispatches == []  # f stays skipped although e succeeded
    # And the workflow ends FAILED with the right counts
    [event] = commands.workflow_events
    assert event.state is WorkflowState.FAILED
    status = driver.scheduler.workflow_status("wf")
    assert status.counts == {S.FAILED: 1, S.SKIPPED: 4, S.SUCCEEDED: 1}
    summary = driver.scheduler.summary("wf")
    assert (summary.succeeded, summary.failed, summary.skipped, summary.cancelled) == (1, 1, 4, 0)
    for part in ("failed=1", "skipped=4", "succeeded=1"):
        assert part in event.message


# -- lost agents ----------------------------------------------------------------------------


def test_agent_lost_requeues_its_tasks_and_starts_a_replacement(driver: Any, spec: Any) -> None:
    # Given a task running on worker#1
    commands = driver.submit(spec.workflow(spec.task("t")))
    [first] = commands.orders
    # When worker#1 is killed from outside (not the task's fault)
    commands = driver.send(lost("worker#1", "killed"))
    # Then the task goes back to READY (published, with the reason) and is re-dispatched
    # to a replacement agent as attempt 2
    assert commands.states("t") == [S.READY]
    assert "re-queued" in commands.task_events[0].message
    assert "worker#1 was killed" in commands.task_events[0].message
    assert commands.started == ["worker#2"]
    assert [
        (b.agent_id, o.task_id, o.attempt) for b in commands.dispatches for o in b.attempts
    ] == [("worker#2", "t", 2)]
    assert commands.orders[0].attempt_id != first.attempt_id
    assert driver.state("t") is S.RUNNING
    assert driver.scheduler.agents() == {"worker#2": "worker"}
    # And the run then ends normally
    commands = driver.finish(*commands.orders)
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED


def test_losses_do_not_count_as_failures_but_are_bounded(driver: Any, spec: Any) -> None:
    # Given a task with a single attempt allowed and one agent loss tolerated
    retry = RetryPolicy(max_attempts=1, max_agent_losses=1)
    commands = driver.submit(spec.workflow(spec.task("t", retry=retry)))
    # When its agent is lost once, it runs again (a loss is not a failure)
    commands = driver.send(lost("worker#1", "node_lost"))
    assert commands.states("t") == [S.READY]
    [again] = commands.dispatches
    # When the second agent is lost too, the task fails: AgentLost, with the count
    commands = driver.send(lost(again.agent_id, "unreachable"))
    assert commands.states("t") == [S.FAILED]
    assert "lost 2 times" in commands.task_events[0].message
    info = driver.scheduler.task_info("wf", "t")
    assert info.error_type == "AgentLost"
    assert commands.workflow_events[0].state is WorkflowState.FAILED
    assert commands.dispatches == []


def test_losing_an_unknown_or_stopped_agent_changes_nothing(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("t")))
    assert driver.send(lost("nobody#9")) == []
    assert driver.state("t") is S.RUNNING
    driver.finish(*commands.orders)
    driver.tick(driver.clock.now_s() + 1000)  # the idle agent is stopped
    assert driver.scheduler.agents() == {}
    assert driver.send(lost("worker#1")) == []


def test_agent_that_fails_to_start_loses_its_dispatched_work(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("t")))
    assert commands.started == ["worker#1"]
    commands = driver.send(lost("worker#1", "failed_to_start"))
    assert commands.started == ["worker#2"]
    assert commands.dispatched_ids == ["t"]


# -- timeouts ---------------------------------------------------------------------------------


def test_timeout_fails_the_attempt_on_tick_and_stops_the_agent(driver: Any, spec: Any) -> None:
    # Given a 5 s timeout, a retry allowed, and an agent running two tasks at once
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=1.0)
    workflow = spec.workflow(
        spec.task("slow", timeout_s=5.0, retry=retry),
        spec.task("other"),
        agents=[spec.agent("worker", max_concurrency=2)],
    )
    commands = driver.submit(workflow)
    dispatched_at = driver.clock.now_s()
    orders = {o.task_id: o for o in commands.orders}
    assert driver.scheduler.next_wakeup_s() == pytest.approx(dispatched_at + 5.0)
    # When a tick comes before the limit, nothing happens
    assert driver.tick(dispatched_at + 4.9) == []
    # When a tick comes at the limit
    commands = driver.tick(dispatched_at + 5.0)
    # Then the attempt fails with TimeoutError (retry scheduled), the agent is stopped, and
    # the other task that shared the agent is re-queued on a new agent
    assert commands.states("slow") == [S.RETRY_WAIT]
    assert "TimeoutError" in commands.task_events[0].message
    assert "timeout_s=5" in commands.task_events[0].message
    assert commands.stopped == ["worker#1"]
    assert commands.states("other") == [S.READY]
    assert commands.started == ["worker#2"]
    assert commands.dispatched_ids == ["other"]
    info = driver.scheduler.task_info("wf", "slow")
    assert info.error_type == "TimeoutError"
    # And the late outcomes of the stopped agent are ignored
    stale = driver.finish(orders["slow"], orders["other"])
    assert stale == []
    assert driver.state("slow") is S.RETRY_WAIT
    assert driver.state("other") is S.RUNNING
    # The retry comes after the backoff
    commands = driver.tick(dispatched_at + 6.0)
    assert [(o.task_id, o.attempt) for o in commands.orders] == [("slow", 2)]


def test_timeout_without_retry_fails_the_task(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("slow", timeout_s=2.0)))
    commands = driver.tick(driver.clock.now_s() + 2.0)
    assert commands.states("slow") == [S.FAILED]
    assert commands.stopped == ["worker#1"]
    assert commands.workflow_events[0].state is WorkflowState.FAILED


def test_timeout_stop_reason_names_the_task(driver: Any, spec: Any) -> None:
    driver.submit(spec.workflow(spec.task("slow", timeout_s=2.0)))
    [stop] = driver.tick(driver.clock.now_s() + 2.0).of(StopAgent)
    assert "'slow' timed out" in stop.reason


def test_a_finished_attempt_cancels_its_timeout(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("quick", timeout_s=5.0), spec.task("x")))
    driver.finish(commands.orders[0], duration_s=1.0)
    # The timer of the finished attempt is gone: the next wakeup is not at +5 s.
    wakeup = driver.scheduler.next_wakeup_s()
    assert wakeup is None or wakeup != pytest.approx(driver.clock.now_s() + 4.0)
    assert driver.tick(driver.clock.now_s() + 10.0).stopped == []


# -- stale outcomes -----------------------------------------------------------------------


def test_outcome_of_a_lost_attempt_is_ignored(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("t")))
    [old] = commands.orders
    commands = driver.send(lost("worker#1", "killed"))
    [new] = commands.orders
    # The dead agent's result arrives late: ignored, the new attempt still runs
    assert driver.finish(old) == []
    assert driver.state("t") is S.RUNNING
    commands = driver.finish(new, ok=False)
    assert commands.states("t") == [S.FAILED]


def test_duplicate_outcome_is_ignored(driver: Any, spec: Any) -> None:
    commands = driver.submit(spec.workflow(spec.task("t", retry=RetryPolicy(max_attempts=2))))
    [order] = commands.orders
    assert driver.finish(order, ok=False).states("t") == [S.RETRY_WAIT]
    assert driver.finish(order, ok=False) == []
    assert driver.finish(order, ok=True) == []
    assert driver.state("t") is S.RETRY_WAIT
    assert driver.scheduler.task_info("wf", "t").attempts == 1


# -- cancellation ---------------------------------------------------------------------------


def test_cancel_cancels_everything_not_finished(driver: Any, spec: Any) -> None:
    # Given: done succeeded; running runs; waiting is in retry backoff; queued is READY
    # behind the only agent; later is PENDING on running.
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=10.0)
    workflow = spec.workflow(
        spec.task("done", priority="critical"),
        spec.task("waiting", priority="high", retry=retry),
        spec.task("running", priority="medium"),
        spec.task("queued", priority="low"),
        spec.task("later", depends_on=["running"]),
        agents=[spec.agent("worker", replicas=1)],
    )
    commands = driver.submit(workflow)
    commands = driver.finish(*commands.orders)  # done
    commands = driver.finish(*commands.orders, ok=False)  # waiting -> RETRY_WAIT
    assert commands.dispatched_ids == ["running"]
    running = commands.orders
    assert [driver.state(t) for t in ("done", "waiting", "running", "queued", "later")] == [
        S.SUCCEEDED,
        S.RETRY_WAIT,
        S.RUNNING,
        S.READY,
        S.PENDING,
    ]
    # When the workflow is cancelled
    commands = driver.send(WorkflowCancelRequested(workflow_id="wf", reason="changed my mind"))
    # Then every unfinished task is cancelled with the reason, and the workflow ends CANCELLED
    cancelled = {e.task_id for e in commands.task_events if e.state is S.CANCELLED}
    assert cancelled == {"waiting", "running", "queued", "later"}
    assert driver.state("done") is S.SUCCEEDED
    assert all(e.message == "changed my mind" for e in commands.task_events)
    assert driver.scheduler.task_info("wf", "queued").error_message == "changed my mind"
    [event] = commands.workflow_events
    assert event.state is WorkflowState.CANCELLED
    assert commands.dispatches == []
    summary = driver.scheduler.summary("wf")
    assert (summary.succeeded, summary.cancelled) == (1, 4)
    # And nothing comes back to life: not the late outcome, not the retry timer
    assert driver.finish(*running) == []
    assert driver.tick(driver.clock.now_s() + 60).dispatches == []
    assert driver.state("waiting") is S.CANCELLED
    # A second cancel, or a cancel of an unknown workflow, does nothing
    assert driver.send(WorkflowCancelRequested(workflow_id="wf")) == []
    assert driver.send(WorkflowCancelRequested(workflow_id="unknown")) == []


def test_cancel_leaves_other_workflows_running(driver: Any, spec: Any) -> None:
    agent = spec.agent("worker", replicas=2)
    driver.submit(spec.workflow(spec.task("a"), agents=[agent], workflow_id="w1"))
    commands = driver.submit(spec.workflow(spec.task("b"), agents=[agent], workflow_id="w2"))
    [order_b] = commands.orders
    driver.send(WorkflowCancelRequested(workflow_id="w1"))
    assert driver.scheduler.workflow_status("w1").state is WorkflowState.CANCELLED
    assert driver.state("b", "w2") is S.RUNNING
    commands = driver.finish(order_b)
    assert commands.workflow_events[0].state is WorkflowState.SUCCEEDED


def test_the_agent_of_a_cancelled_attempt_is_freed_by_its_outcome(
    driver: Any, spec: Any, make_outcome: Any
) -> None:
    agent = spec.agent("worker", replicas=1)
    commands = driver.submit(spec.workflow(spec.task("a"), agents=[agent], workflow_id="w1"))
    [order_a] = commands.orders
    driver.send(WorkflowCancelRequested(workflow_id="w1"))
    # The agent still runs a's call: w2's task waits for it
    commands = driver.submit(spec.workflow(spec.task("b"), agents=[agent], workflow_id="w2"))
    assert commands.dispatches == []
    # When a's (ignored) outcome frees the agent, b goes
    now_s = driver.clock.now_s()
    done_a = make_outcome(order_a, started_s=now_s, finished_s=now_s)
    commands = driver.send(AttemptsFinished(outcomes=(done_a,)))
    assert commands.dispatched_ids == ["b"]
    assert commands.task_events == []
    assert driver.state("a", "w1") is S.CANCELLED


def test_a_hung_cancelled_attempt_still_has_its_agent_stopped(driver: Any, spec: Any) -> None:
    # Was a bug: cancelling a workflow drops its RUNNING attempts from `_running`, which also
    # disarms their timeouts (`_on_tick` only times out attempts still in `_running`). An
    # attempt that hangs keeps its agent, and the capacity the agent reserves, forever: no
    # StopAgent is ever sent and `next_wakeup_s()` no longer mentions it. Fix: keep the
    # timers of cancelled attempts armed (e.g. a map attempt_id -> agent for abandoned
    # attempts, checked by `_on_tick`) and stop the agent when one expires, or stop at
    # once an agent whose open calls carry only cancelled attempts.
    #
    # Given a task with a 5 s timeout whose attempt hangs
    driver.submit(spec.workflow(spec.task("hang", timeout_s=5.0)))
    dispatched_s = driver.clock.now_s()
    # When the workflow is cancelled after 1 s, and the timeout then expires
    driver.clock.advance(1.0)
    commands = driver.send(WorkflowCancelRequested(workflow_id="wf"))
    stopped = list(commands.stopped)
    stopped += driver.tick(dispatched_s + 5.0).stopped
    # Then the hung agent has been stopped
    assert stopped == ["worker#1"]
    assert driver.scheduler.agents() == {}


def test_cancelling_a_large_workflow_midway_keeps_every_count(driver: Any, spec: Any) -> None:
    # Given a 600-task workflow (chains and fan-outs) partly done, partly running and ready
    tasks = [spec.task(f"t{i}", depends_on=[f"t{i // 2}"] if i else []) for i in range(600)]
    workflow = spec.workflow(*tasks, agents=[spec.agent("worker", replicas=3)])
    commands = driver.submit(workflow)
    for _ in range(20):
        commands = driver.finish(*commands.orders)
    done = driver.scheduler.summary("wf").succeeded
    # When it is cancelled
    commands = driver.send(WorkflowCancelRequested(workflow_id="wf", reason="enough"))
    # Then every task not finished is cancelled once, the counts add up, and the pool
    # has no open task left
    cancelled = [e.task_id for e in commands.task_events if e.state is S.CANCELLED]
    assert len(cancelled) == len(set(cancelled)) == 600 - done
    summary = driver.scheduler.summary("wf")
    assert (summary.succeeded, summary.cancelled) == (done, 600 - done)
    assert driver.scheduler.workflow_status("wf").state is WorkflowState.CANCELLED
    assert all(pool.open_tasks == 0 for pool in driver.scheduler.statistics().pools.values())
