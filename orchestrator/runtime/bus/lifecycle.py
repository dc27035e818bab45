"""Lifecycle events: what the supervisor tells the bus about tasks, workflows and agents.

Topics are ``events.<kind>.<event>``:

==========  ===================================================  ==========================
kind        events                                               from
==========  ===================================================  ==========================
task        ``changed``: a batch of task changes (see below)      the scheduler's task events
workflow    ``running``, ``paused``, ``succeeded``, ``failed``…  workflow events
agent       ``started``, ``stopped``, ``lost``                   start/stop commands
heartbeat   the verdict (``slow``, ``hung``, ``dead``…)          the heartbeat actor
checkpoint  ``written``, ``failed``                              each checkpoint save
deadline    ``missed``                                           a task's deadline passing
breaker     the breaker's state (``open``, ``closed``…)          pool events
schedule    ``added``, ``removed``, ``fired``, ``skipped``       schedule events
==========  ===================================================  ==========================

Each payload is a `LifecycleEvent` (as a dict), but for task changes: they come many at a
time (every task of a 10,000-task workflow changes state several times), so the
supervisor sends one message per workflow and scheduler step, on ``events.task.changed``,
its ``tasks`` rows ``[task_id, state, attempt, detail]`` (at most `TASK_ROWS_PER_MESSAGE`);
`expand` turns a message into its `LifecycleEvent`s, one per task change (the driver's
`orch.events()` does). Publishing never waits: a slow bus makes
the supervisor drop events (counted), not slow down; a broken one is logged once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from structlog.typing import FilteringBoundLogger

from orchestrator.core.commands import (
    Command,
    PublishPoolEvent,
    PublishScheduleEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    StartAgent,
    StopAgent,
)
from orchestrator.runtime.bus.interface import Bus

EventKind = Literal[
    "task", "workflow", "agent", "heartbeat", "checkpoint", "deadline", "breaker", "schedule"
]
#: Every kind of lifecycle event.
EVENT_KINDS: tuple[str, ...] = EventKind.__args__  # type: ignore[attr-defined]
#: Task-event messages that tell of a deadline passing (`orchestrator.core.deadlines`).
_DEADLINE_MESSAGES = ("missed its deadline", "DeadlineMissed:", "not started by its deadline")
#: Task changes per ``events.task.changed`` message, at most (well under the size limit).
TASK_ROWS_PER_MESSAGE = 2_000


class LifecycleEvent(BaseModel):
    """Something that happened in the orchestrator, as the bus carries it.

    Attributes:
        kind: What it is about (see the module docstring).
        event: What happened: a state entered, a verdict, ``started``...
        workflow_id: The workflow, for task, workflow and deadline events.
        task_id: The task, for task and deadline events.
        agent_id: The agent, for agent and heartbeat events.
        pool: The pool, for agent and breaker events; the schedule's name for schedule
            events.
        attempt: Attempts started so far, for task events.
        detail: Why, or more about it (a checkpoint's key...).
        time_s: When the supervisor published it (wall clock).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EventKind
    event: str
    workflow_id: str | None = None
    task_id: str | None = None
    agent_id: str | None = None
    pool: str | None = None
    attempt: int | None = None
    detail: str = ""
    time_s: float = 0.0

    @property
    def topic(self) -> str:
        """The topic it is published on."""
        return f"events.{self.kind}.{self.event}"


def expand(payload: Any) -> list[LifecycleEvent]:
    """Return the lifecycle events one message carries (task changes come in batches).

    Raises pydantic's `ValidationError` for a payload that is not an event.
    """
    if isinstance(payload, dict) and "tasks" in payload:
        fields = {k: v for k, v in payload.items() if k not in ("tasks", "event")}
        return [
            LifecycleEvent(**fields, event=state, task_id=task_id, attempt=attempt, detail=detail)
            for task_id, state, attempt, detail in payload["tasks"]
        ]
    return [LifecycleEvent.model_validate(payload)]


def event_patterns(kinds: Iterable[str] | None) -> tuple[str, ...]:
    """Return the topic patterns of ``kinds`` (all kinds when None).

    Raises:
        ValueError: an unknown kind (named, with the known ones).
    """
    if kinds is None:
        return ("events.*",)
    chosen = tuple(kinds)
    unknown = [k for k in chosen if k not in EVENT_KINDS]
    if unknown or not chosen:
        raise ValueError(
            f"kinds: {unknown or chosen!r} not among the event kinds {', '.join(EVENT_KINDS)}"
        )
    return tuple(f"events.{kind}.*" for kind in chosen)


class LifecyclePublisher:
    """Publishes the supervisor's lifecycle events on the bus.

    Args:
        connect: Returns the bus client to publish with (called once, on first use).
        log: Where a broken bus is told, once.
    """

    def __init__(self, connect: Callable[[], Bus], log: FilteringBoundLogger) -> None:
        self._connect = connect
        self._bus: Bus | None = None
        self._log = log
        self._broken = False
        #: Events that could not be published (bus unreachable or refusing them).
        self.failed = 0

    @property
    def bus(self) -> Bus:
        """The bus client (connected on first use; raises if the bus is unreachable)."""
        if self._bus is None:
            self._bus = self._connect()
        return self._bus

    def _publish(self, kind: str, event: str, **fields: Any) -> None:
        fields["kind"] = kind
        fields["event"] = event
        fields["time_s"] = time.time()
        try:
            self.bus.publish(f"events.{kind}.{event}", fields)
        except Exception as exc:  # the bus must never stop the supervisor
            self.failed += 1
            if not self._broken:
                self._broken = True
                self._log.warning("bus.publish_failed", error=f"{type(exc).__name__}: {exc}")

    def commands(self, commands: Iterable[Command]) -> None:
        """Publish what the scheduler's commands tell (task, workflow, agent... events)."""
        for command in commands:
            if isinstance(command, PublishTaskEvents):
                self._task_events(command)
            elif isinstance(command, PublishWorkflowEvent):
                self._publish(
                    "workflow",
                    command.state.value,
                    workflow_id=command.workflow_id,
                    detail=command.message,
                )
            elif isinstance(command, StartAgent):
                self._publish("agent", "started", agent_id=command.agent_id, pool=command.pool.key)
            elif isinstance(command, StopAgent):
                event = "lost" if command.lost else "stopped"
                self._publish("agent", event, agent_id=command.agent_id, detail=command.reason)
            elif isinstance(command, PublishPoolEvent):
                self._publish("breaker", command.state, pool=command.pool, detail=command.message)
            elif isinstance(command, PublishScheduleEvent):
                self._publish(
                    "schedule", command.event, pool=command.schedule, detail=command.message
                )

    def _task_events(self, command: PublishTaskEvents) -> None:
        rows: dict[str, list[list[Any]]] = {}
        for ev in command.events:
            rows.setdefault(ev.workflow_id, []).append(
                [ev.task_id, ev.state.value, ev.attempt, ev.message]
            )
            if ev.message and ev.message.startswith(_DEADLINE_MESSAGES):
                self._publish(
                    "deadline",
                    "missed",
                    workflow_id=ev.workflow_id,
                    task_id=ev.task_id,
                    detail=ev.message,
                )
        step = TASK_ROWS_PER_MESSAGE
        for workflow_id, changes in rows.items():
            for start in range(0, len(changes), step):
                tasks = changes[start : start + step]
                self._publish("task", "changed", workflow_id=workflow_id, tasks=tasks)

    def heartbeat(self, agent_id: str, health: str, detail: str) -> None:
        """Publish a heartbeat verdict on an agent."""
        self._publish("heartbeat", health, agent_id=agent_id, detail=detail)

    def checkpoint(self, key: str | None, error: object = None) -> None:
        """Publish a checkpoint written (its key) or failed (the error)."""
        if error is not None:
            self._publish("checkpoint", "failed", detail=str(error))
        elif key is not None:
            self._publish("checkpoint", "written", detail=key)

    def flush(self) -> None:
        """Wait until the events published so far are delivered (tests, shutdown)."""
        if self._bus is not None:
            self._bus.flush()
