"""`TaskLifecycle`: what happens to a task once admitted, through the transition table.

Ready, running, succeeded; failed and retried after a backoff, or failed for good with its
dependents skipped; re-queued or charged when its agent is lost; timed out. Every change
goes through `move` (the table) and is published as a `TaskEvent`, except the routine
PENDING -> READY and READY -> RUNNING, which would be noise. When a workflow's last task
ends, the lifecycle hands the workflow to its owner (``on_workflow_done``).
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from orchestrator.core import compensation, triggers
from orchestrator.core.clock import Clock
from orchestrator.core.commands import Command, PublishPoolEvent, PublishTaskEvents, TaskEvent
from orchestrator.core.dead_letters import DeadLetterQueue
from orchestrator.core.dispatch import Dispatcher
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.losses import Charge, blamed_error_type, gist, what_happened
from orchestrator.core.records import (
    AgentRecord,
    PoolRecord,
    TaskRecord,
    WorkflowRecord,
    move,
    move_out,
)
from orchestrator.core.states import TERMINAL_TASK_STATES, TaskState, WorkflowState
from orchestrator.core.timers import Timers
from orchestrator.core.triggers import DEFAULT_RULE

_PENDING = TaskState.PENDING
_READY = TaskState.READY
_RUNNING = TaskState.RUNNING
_CANCELLED = TaskState.CANCELLED
_PAUSED = WorkflowState.PAUSED
#: How an upstream ended, as the reason its dependents are skipped says it.
_ENDED = {
    TaskState.FAILED: "failed",
    TaskState.SKIPPED: "was skipped",
    TaskState.CANCELLED: "was cancelled",
    TaskState.SUCCEEDED: "succeeded",
}
_TERMINAL = TERMINAL_TASK_STATES
_new_event = tuple.__new__

#: Called with a workflow whose last task just ended, and the commands being built.
WorkflowDone = Callable[[WorkflowRecord, list[Command]], None]


def jitter_draw(task: TaskRecord, failures: int) -> float:
    """Return a number in [0, 1] for the jitter of ``task``'s retry after ``failures``.

    A hash of the workflow, the task and the count, not a random draw: the scheduler stays
    deterministic (a replay, a restored checkpoint, a test) while tasks that failed
    together still spread their retries.
    """
    key = f"{task.workflow.workflow_id}\x00{task.task_id}\x00{failures}".encode()
    return zlib.crc32(key) / 0xFFFFFFFF


class TaskLifecycle:
    """Moves tasks through their states and publishes what happened (see module docstring)."""

    def __init__(
        self,
        clock: Clock,
        timers: Timers,
        dispatcher: Dispatcher,
        fleet: AgentFleet,
        dead_letters: DeadLetterQueue,
        on_workflow_done: WorkflowDone,
    ) -> None:
        """Work with the scheduler's own parts.

        Args:
            clock: When retries are due and attempts are cut short.
            timers: Where retries wait out their backoff.
            dispatcher: The attempts in flight (closed when an agent is lost).
            fleet: The agents (stopped and replaced when lost) and pools to dispatch.
            dead_letters: Where tasks that fail for good are kept.
            on_workflow_done: Told when a workflow's last task ended.
        """
        self._clock = clock
        self._timers = timers
        self._dispatcher = dispatcher
        self._fleet = fleet
        self._dead_letters = dead_letters
        self._on_workflow_done = on_workflow_done
        self._events: list[TaskEvent] = []

    def flush_events(self, out: list[Command]) -> None:
        """Append the task events gathered so far to ``out``, in the order they happened."""
        if self._events:
            out.append(PublishTaskEvents(tuple(self._events)))
            self._events.clear()

    def set_state(
        self, task: TaskRecord, state: TaskState, out: list[Command], message: str = ""
    ) -> None:
        """Move ``task`` to ``state``, publish it, and end its workflow after its last task."""
        # Membership tests rather than the `is_terminal` property: this runs per task.
        was_open = task.state not in _TERMINAL
        ends = state in _TERMINAL
        move(task, state)
        workflow = task.workflow
        if not was_open and not ends:  # a lost result computed again, a dead letter re-queued
            task.pool.open_tasks += 1
            workflow.open_tasks += 1
        # `TaskEvent`'s fields, without its Python-level constructor (made per task).
        event = (workflow.workflow_id, task.task_id, state, task.attempts, message)
        self._events.append(_new_event(TaskEvent, event))
        if was_open and ends:
            task.pool.open_tasks -= 1
            workflow.open_tasks -= 1
            if task.compensates is not None:
                self._next_compensation(workflow, out)
            if workflow.open_tasks == 0:
                self.flush_events(out)
                self._on_workflow_done(workflow, out)

    def note(self, task: TaskRecord, message: str) -> None:
        """Publish something that happened to ``task`` without a change of state."""
        workflow_id = task.workflow.workflow_id
        self._events.append(
            TaskEvent(workflow_id, task.task_id, task.state, task.attempts, message)
        )

    def release_ready(self, workflow: WorkflowRecord, out: list[Command]) -> None:
        """Queue every task of ``workflow`` whose dependencies all ended by now."""
        self.release(workflow, workflow.graph.ready(), out)

    def release(
        self, workflow: WorkflowRecord, task_ids: Iterable[str], out: list[Command]
    ) -> None:
        """Queue those of ``task_ids`` (whose dependencies all ended) still pending."""
        tasks = workflow.tasks
        for task_id in task_ids:
            task = tasks[task_id]
            if task.state is _PENDING:
                if task.extras is None:  # nothing can hold it back: the common case
                    self.make_ready(task, out)
                else:
                    self._release(task, out)

    def _release(self, task: TaskRecord, out: list[Command]) -> None:
        """Queue ``task``, whose dependencies all ended, unless its trigger rule skips it.

        A deferred task (``not_before``, ``delay_s``) whose start time has not come waits
        for it (see `Timers.add_start`).
        """
        extras = task.extras
        if extras is not None:
            if extras.trigger_rule != DEFAULT_RULE:
                reason = triggers.skip_reason(task)
                if reason is not None:
                    self.skip(task, reason, out)
                    return
            if extras.deferred:
                start_s = triggers.earliest_start_s(task)
                if start_s > self._clock.now_s():
                    self._timers.add_start(start_s, task)
                    self.note(task, f"deferred: starts at {_instant(start_s)}")
                    return
        self.make_ready(task, out)

    def make_ready(self, task: TaskRecord, out: list[Command], message: str = "") -> None:
        """Queue ``task``; only a re-queue (with a ``message``) is published, not routine.

        A task whose pool no node can hold any more fails instead (see `fail_infeasible`).
        """
        pool = task.pool
        if pool.infeasible is not None:
            self._fail_infeasible_task(task, out)
            return
        extras = task.extras
        if extras is not None and task.first_ready_s is None:
            task.first_ready_s = now_s = self._clock.now_s()
            if extras.schedule_to_close_s is not None:
                self._timers.add_close(now_s + extras.schedule_to_close_s, task)
        if message:
            self.set_state(task, _READY, out, message)
        else:
            move(task, _READY)
        task.ready_s = self._clock.now_s()
        workflow = task.workflow
        if workflow.state is _PAUSED:  # held until the workflow resumes (see `pausing`)
            workflow.parked.append(task)
            return
        queue = pool.isolated if task.suspect else pool.ready
        queue.push(task, task.priority, task.deadline_s, task.rank)
        self._fleet.dirty.add(pool)

    def succeed(self, task: TaskRecord, out: list[Command]) -> None:
        """Record ``task``'s success; queue the dependents it was the last to wait for."""
        self.set_state(task, TaskState.SUCCEEDED, out)
        breaker = task.pool.breaker
        if breaker is not None and breaker.succeeded() is not None:
            self._publish_breaker(task.pool, "closed: a probe succeeded", out)
        if task.compensates is None:  # compensations are outside the graph
            task.workflow.graph.mark_done(task.task_id)
            self.release_ready(task.workflow, out)

    def fail_attempt(self, task: TaskRecord, outcome: AttemptOutcome, out: list[Command]) -> None:
        """Record a failed attempt: retry after the backoff, or fail the task for good.

        The task fails for good when the error is not retryable (the task said so, or its
        policy lists the error's class), when it has used its attempts, or when its
        workflow's retry budget is spent. An attempt whose ``run_if`` predicate answered
        false is no failure: the task is skipped.
        """
        if outcome.skipped:
            task.error_type = outcome.error_type
            self.skip(task, outcome.error_message or "its run_if predicate answered false", out)
            return
        task.error_type = outcome.error_type
        task.error_message = outcome.error_message
        task.traceback = outcome.traceback
        task.failures += 1
        error = f"{outcome.error_type}: {outcome.error_message}"
        breaker = task.pool.breaker
        if breaker is not None and breaker.failed(self._clock.now_s()) is not None:
            why = f"opened after {breaker.failures} failures in a row, the last {error}"
            self._publish_breaker(task.pool, why[:300], out)
        retry = task.retry
        workflow = task.workflow
        if not outcome.retryable or retry.refuses(outcome.error_type, outcome.error_lineage):
            self.fail(task, f"{error} (not retryable)", out)
            return
        if task.failures >= retry.max_attempts:
            self.fail(task, error, out)
            return
        if workflow.retries_left is not None:
            if workflow.retries_left <= 0:
                self.fail(task, f"{error} (the workflow's retry budget is spent)", out)
                return
            workflow.retries_left -= 1
        backoff_s = retry.backoff_s(task.failures, jitter_draw(task, task.failures))
        self._timers.add_retry(self._clock.now_s() + backoff_s, task)
        message = f"attempt {task.attempts} failed ({error}); retry at +{backoff_s:.2f}s"
        self.set_state(task, TaskState.RETRY_WAIT, out, message)

    def _publish_breaker(self, pool: PoolRecord, message: str, out: list[Command]) -> None:
        assert pool.breaker is not None
        out.append(
            PublishPoolEvent(
                pool=pool.spec.key, event="breaker", state=pool.breaker.state, message=message
            )
        )
        self._fleet.dirty.add(pool)  # closed: its work may go again

    def fail(self, task: TaskRecord, message: str, out: list[Command]) -> None:
        """Fail ``task`` for good and skip every task that can now never run."""
        self.set_state(task, TaskState.FAILED, out, message)
        self._dead_letters.add(task, self._clock.now_s())
        if task.compensates is not None:
            return  # outside the graph: nothing depends on it
        self._ended(task, out)

    def _ended(self, task: TaskRecord, out: list[Command]) -> None:
        """Tell the tasks after ``task`` (just failed or skipped) that it ended.

        Those with the default rule are skipped at once, and so on down; the others count
        it as ended and, once every upstream ended, run or are skipped by their rule.
        """
        workflow = task.workflow
        graph, tasks = workflow.graph, workflow.tasks
        graph.end(task.task_id)
        # (a task that ended, why the tasks it skips are skipped: the first cause, passed on)
        ended = [(task, f"upstream task {task.task_id!r} {_ENDED[task.state]}")]
        while ended:
            upstream, why = ended.pop()
            for task_id in graph.dependents(upstream.task_id):
                dependent = tasks[task_id]
                if dependent.state is not _PENDING:
                    continue
                if triggers.rule_of(dependent) == DEFAULT_RULE:
                    graph.end(task_id)
                    dependent.error_message = why
                    self.set_state(dependent, TaskState.SKIPPED, out, why)
                    ended.append((dependent, why))
                elif graph.upstream_ended(task_id) == 0:
                    self._release(dependent, out)

    def fail_infeasible(self, pool: PoolRecord, out: list[Command]) -> None:
        """Fail every task queued in ``pool``, which no node can hold any more."""
        for queue in (pool.ready, pool.isolated):
            while queue:
                task = queue.pop()
                self._fail_infeasible_task(task, out)

    def _fail_infeasible_task(self, task: TaskRecord, out: list[Command]) -> None:
        task.error_type = "Infeasible"
        task.error_message = (
            f"no node can hold agent {task.pool.spec.key!r} any more: {task.pool.infeasible}"
        )
        self.fail(task, f"Infeasible: {task.error_message}", out)

    def compensate(self, workflow: WorkflowRecord, pool: PoolRecord, out: list[Command]) -> None:
        """Start the compensations of failed ``workflow`` (see `compensation`), in ``pool``."""
        records = compensation.plan(workflow, pool)
        for record in records:
            workflow.tasks[record.task_id] = record
            pool.open_tasks += 1
        workflow.counts[_PENDING] = workflow.counts.get(_PENDING, 0) + len(records)
        workflow.open_tasks += len(records)
        workflow.compensations = deque(records)
        self._next_compensation(workflow, out)

    def _next_compensation(self, workflow: WorkflowRecord, out: list[Command]) -> None:
        queue = workflow.compensations
        while queue:
            task = queue.popleft()
            if task.state is _PENDING:  # not cancelled meanwhile
                self.make_ready(task, out, f"compensates {task.compensates!r}")
                return

    def cancel_all(self, workflow: WorkflowRecord, reason: str, out: list[Command]) -> None:
        """`cancel` every task of ``workflow`` not finished, in one pass.

        The same as one `cancel` per task, without its per-task calls: cancelling a
        workflow of 100,000 tasks is one step of the supervisor's loop, other work waits.
        Compensation tasks (rare) take `cancel` itself.
        """
        events = self._events
        counts = workflow.counts
        forget = self._dispatcher.forget
        workflow_id = workflow.workflow_id
        cancelled = 0
        for task in list(workflow.tasks.values()):
            state = task.state
            if state in _TERMINAL:
                continue
            if task.compensates is not None or workflow.open_tasks - cancelled == 1:
                # The last open task (its workflow then ends) or a compensation: the
                # ordinary path, after the counts of those cancelled so far are settled.
                workflow.open_tasks -= cancelled
                counts[_CANCELLED] = counts.get(_CANCELLED, 0) + cancelled
                cancelled = 0
                self.cancel(task, reason, out)
                continue
            if state is _READY:
                task.pool.queue_of(task).remove(task)
            elif state is _RUNNING:
                forget(task.attempt_id)
            move_out(task, _CANCELLED)
            task.error_message = reason
            task.pool.open_tasks -= 1
            cancelled += 1
            event = (workflow_id, task.task_id, _CANCELLED, task.attempts, reason)
            events.append(_new_event(TaskEvent, event))
        workflow.open_tasks -= cancelled
        counts[_CANCELLED] = counts.get(_CANCELLED, 0) + cancelled

    def cancel(self, task: TaskRecord, reason: str, out: list[Command]) -> None:
        """Cancel ``task`` (not finished); a running attempt's outcome will be ignored."""
        if task.state is _READY:
            task.pool.queue_of(task).remove(task)
        elif task.state is TaskState.RUNNING:
            # The agent finishes the call; its outcome will be ignored.
            self._dispatcher.forget(task.attempt_id)
        task.error_message = reason
        self.set_state(task, TaskState.CANCELLED, out, reason)

    def time_out(self, task: TaskRecord, attempt_id: int, out: list[Command]) -> None:
        """Fail attempt ``attempt_id`` of ``task``, past its timeout, and stop its agent."""
        outcome = self._dispatcher.time_out(task, attempt_id, self._clock.now_s())
        self._cut_short(task, outcome, "timed out", out)

    def check_silence(self, task: TaskRecord, attempt_id: int, out: list[Command]) -> None:
        """Fail attempt ``attempt_id`` if it reported no progress for its heartbeat timeout.

        The clock starts when the agent marks the handler's start (a slow agent start-up
        is not silence; an agent that never starts is the heartbeat's start timeout's
        business). An attempt that did report is checked again one timeout after its last
        report.
        """
        extras = task.extras
        assert extras is not None and extras.heartbeat_timeout_s is not None
        limit_s = extras.heartbeat_timeout_s
        now_s = self._clock.now_s()
        if task.last_progress_s is None:  # not started on its agent yet: no silence
            self._timers.add_silence(now_s + limit_s, attempt_id, task)
            return
        last_s = task.last_progress_s
        if now_s - last_s < limit_s:
            self._timers.add_silence(last_s + limit_s, attempt_id, task)
            return
        message = f"no progress for {now_s - last_s:.1f}s (heartbeat_timeout_s={limit_s:g})"
        outcome = self._dispatcher.interrupted(
            task, attempt_id, now_s, "HeartbeatTimeout", message, forget=True
        )
        self._cut_short(task, outcome, "fell silent", out)

    def close_timeout(self, task: TaskRecord, out: list[Command]) -> None:
        """Fail ``task`` for good: its schedule-to-close time passed before it ended."""
        extras = task.extras
        assert extras is not None and extras.schedule_to_close_s is not None
        message = (
            f"not done {extras.schedule_to_close_s:g}s after it was first ready"
            " (schedule_to_close_s)"
        )
        self.fail_now(task, "ScheduleToCloseTimeout", message, "schedule-to-close time", out)

    def skip(self, task: TaskRecord, reason: str, out: list[Command]) -> None:
        """Skip unfinished ``task``; the tasks after it follow their rules.

        ``task`` is not running, or its attempt just ended without running the handler
        (its ``run_if`` predicate answered false).
        """
        if task.state is _READY:
            task.pool.queue_of(task).remove(task)
        task.error_message = reason
        self.set_state(task, TaskState.SKIPPED, out, reason)
        self._ended(task, out)

    def fail_now(
        self, task: TaskRecord, error_type: str, message: str, what: str, out: list[Command]
    ) -> None:
        """Fail unfinished ``task`` for good at once, stopping its running attempt's agent.

        ``what`` names what passed (``schedule-to-close time``, ``deadline``) in the
        reason the agent is stopped for.
        """
        task.error_type = error_type
        task.error_message = message
        task.traceback = None
        agent = None
        if task.state is TaskState.RUNNING:
            agent = self._fleet.agents.get(task.agent_id or "")
            self._dispatcher.interrupted(
                task, task.attempt_id, self._clock.now_s(), "", "", forget=True
            )
        elif task.state is _READY:
            task.pool.queue_of(task).remove(task)
        self.fail(task, f"{error_type}: {message}", out)
        if agent is not None:
            reason = f"task {task.task_id!r} ran past its {what}"
            self.lose_agent(agent, "stopped", reason, "none", out)

    def _cut_short(
        self, task: TaskRecord, outcome: AttemptOutcome, why: str, out: list[Command]
    ) -> None:
        """Charge ``task`` for its attempt cut short, and stop the agent still running it."""
        agent = self._fleet.agents.get(task.agent_id or "")
        self.fail_attempt(task, outcome, out)
        if agent is not None:
            # A running call cannot be interrupted: stop the agent, re-queue its other
            # work without charging it (the culprit is known and charged above).
            reason = f"task {task.task_id!r} {why} ({outcome.error_message})"
            self.lose_agent(agent, "stopped", reason, "none", out)

    def lose_agent(
        self, agent: AgentRecord, cause: str, reason: str, charge: Charge, out: list[Command]
    ) -> None:
        """Stop and replace ``agent``; charge or re-queue its attempts (see `losses`).

        The full ``reason`` goes once into the `StopAgent`; task messages stay short.
        """
        self._fleet.remove(agent, f"{cause}: {reason}", out, lost=cause != "stopped")
        waiting, occupying = self._dispatcher.abandon(agent)
        what = what_happened(agent.agent_id, cause)
        if charge == "running" and occupying == 1 and len(waiting) == 1:
            [(attempt_id, task)] = waiting
            task.suspect = True
            message = f"{what} while running this task alone ({gist(reason)})"
            now_s = self._clock.now_s()
            error_type = blamed_error_type(cause)
            outcome = self._dispatcher.interrupted(task, attempt_id, now_s, error_type, message)
            self.fail_attempt(task, outcome, out)
            waiting = []
        for _, task in waiting:
            if charge == "running":
                task.suspect = True
                message = f"re-queued free: {what} running {occupying} attempts; runs alone"
            else:
                task.losses += charge == "loss"
                if task.losses > task.retry.max_agent_losses:
                    task.error_type = "AgentLost"
                    task.error_message = f"{what}: {gist(reason)} (lost {task.losses} times)"
                    self.fail(task, f"AgentLost: {task.error_message}", out)
                    continue
                message = f"re-queued: {what}"
            self.make_ready(task, out, message)
        self._fleet.top_up(agent.pool, out)


def _instant(time_s: float) -> str:
    """Return a POSIX time as an ISO 8601 UTC instant, for messages."""
    return datetime.fromtimestamp(time_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
