"""A scheduler driven by hand, for tests that play the runtime one event at a time.

`Driver` sends the events, `Commands` views what comes back by kind, and `outcome`
builds how an attempt ended.
"""

from __future__ import annotations

from typing import Any

from orchestrator.core import (
    AttemptOrder,
    AttemptOutcome,
    AttemptsFinished,
    DispatchBatch,
    FakeClock,
    PublishTaskEvents,
    PublishWorkflowEvent,
    Scheduler,
    SchedulerConfig,
    StartAgent,
    StopAgent,
    TaskEvent,
    TaskState,
    Tick,
    WorkflowSpec,
    WorkflowSubmitted,
)
from orchestrator.testing.specs import START_S


class Commands(list[Any]):
    """The commands of one `Scheduler.handle` call, with views by kind."""

    def of(self, kind: type[Any]) -> list[Any]:
        """Return the commands of one class."""
        return [c for c in self if isinstance(c, kind)]

    @property
    def dispatches(self) -> list[DispatchBatch]:
        """Every `DispatchBatch`."""
        return self.of(DispatchBatch)

    @property
    def orders(self) -> list[AttemptOrder]:
        """Every attempt order of every batch, in order."""
        return [order for batch in self.dispatches for order in batch.attempts]

    @property
    def dispatched_ids(self) -> list[str]:
        """Task ids of every attempt order, in order."""
        return [order.task_id for order in self.orders]

    def of_start(self) -> list[StartAgent]:
        """Every `StartAgent`, in order."""
        return self.of(StartAgent)

    @property
    def started(self) -> list[str]:
        """Ids of the agents started."""
        return [c.agent_id for c in self.of(StartAgent)]

    @property
    def stopped(self) -> list[str]:
        """Ids of the agents stopped."""
        return [c.agent_id for c in self.of(StopAgent)]

    def stopped_reasons(self) -> list[str]:
        """Reasons of the agents stopped, in order."""
        return [c.reason for c in self.of(StopAgent)]

    @property
    def task_events(self) -> list[TaskEvent]:
        """Every published task event, in order."""
        return [e for c in self.of(PublishTaskEvents) for e in c.events]

    @property
    def workflow_events(self) -> list[PublishWorkflowEvent]:
        """Every published workflow event."""
        return self.of(PublishWorkflowEvent)

    def states(self, task_id: str) -> list[TaskState]:
        """Return the states ``task_id`` was published entering, in order."""
        return [e.state for e in self.task_events if e.task_id == task_id]


def outcome(
    order: AttemptOrder,
    *,
    ok: bool = True,
    started_s: float,
    finished_s: float,
    error_type: str | None = None,
    retryable: bool = True,
) -> AttemptOutcome:
    """Return the outcome of ``order``; a failure gets a default error type and message."""
    if ok:
        return AttemptOutcome(order.attempt_id, True, started_s, finished_s)
    return AttemptOutcome(
        order.attempt_id,
        False,
        started_s,
        finished_s,
        error_type=error_type or "RuntimeError",
        error_message=f"{order.task_id} attempt {order.attempt} failed",
        traceback="Traceback (most recent call last): ...",
        retryable=retryable,
    )


class Driver:
    """A scheduler driven by hand: the test plays the runtime, one event at a time."""

    def __init__(self, config: SchedulerConfig | None = None, start_s: float = START_S) -> None:
        self.clock = FakeClock(start_s)
        self.scheduler = Scheduler(self.clock, config)

    def send(self, event: Any) -> Commands:
        """Hand ``event`` to the scheduler and return its commands."""
        return Commands(self.scheduler.handle(event))

    def submit(self, workflow: WorkflowSpec) -> Commands:
        """Submit ``workflow``."""
        return self.send(WorkflowSubmitted(workflow=workflow))

    def finish(
        self,
        *orders: AttemptOrder,
        ok: bool = True,
        duration_s: float = 1.0,
        error_type: str | None = None,
        retryable: bool = True,
    ) -> Commands:
        """Advance the clock by ``duration_s`` and report ``orders`` as ended then."""
        start_s = self.clock.now_s()
        self.clock.advance(duration_s)
        end_s = self.clock.now_s()
        outcomes = tuple(
            outcome(
                order,
                ok=ok,
                started_s=start_s,
                finished_s=end_s,
                error_type=error_type,
                retryable=retryable,
            )
            for order in orders
        )
        return self.send(AttemptsFinished(outcomes=outcomes))

    def tick(self, at_s: float | None = None) -> Commands:
        """Move the clock to ``at_s`` (if given) and send a `Tick`."""
        if at_s is not None:
            self.clock.set(at_s)
        return self.send(Tick())

    def state(self, task_id: str, workflow_id: str = "wf") -> TaskState:
        """Return the scheduler's state of one task."""
        return self.scheduler.task_info(workflow_id, task_id).state
