"""`LifecyclePublisher`: every command, verdict and checkpoint becomes its event (no Ray)."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from orchestrator.core.commands import (
    PublishPoolEvent,
    PublishScheduleEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    StartAgent,
    StopAgent,
    TaskEvent,
)
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.states import TaskState, WorkflowState
from orchestrator.runtime.bus import Bus, LocalBus
from orchestrator.runtime.bus.lifecycle import (
    EVENT_KINDS,
    TASK_ROWS_PER_MESSAGE,
    LifecycleEvent,
    LifecyclePublisher,
    event_patterns,
    expand,
)


def _published(act: Any) -> list[LifecycleEvent]:
    bus = LocalBus("supervisor")
    sub = bus.subscribe("events.*", capacity=1000)
    publisher = LifecyclePublisher(lambda: bus, structlog.get_logger())
    act(publisher)
    events = [e for m in sub.get_batch(1000, 0.0) for e in expand(m.payload)]
    assert all(e.time_s > 0 for e in events)
    return events


def _brief(events: list[LifecycleEvent]) -> list[tuple[str, str, str | None]]:
    return [(e.kind, e.event, e.task_id or e.workflow_id or e.agent_id or e.pool) for e in events]


def test_commands_become_events_in_order() -> None:
    pool = AgentPoolSpec(key="p", agent_class="m:C", resources=ResourceSpec(), max_replicas=1)
    commands = [
        StartAgent(agent_id="a1", pool=pool),
        PublishTaskEvents(
            (
                TaskEvent("w", "t1", TaskState.RUNNING, 1),
                TaskEvent("w", "t2", TaskState.RUNNING, 1, "missed its deadline 2026-01-01"),
                TaskEvent("w", "t1", TaskState.FAILED, 1, "ValueError: boom"),
            )
        ),
        PublishWorkflowEvent(workflow_id="w", state=WorkflowState.FAILED, message="1 failed"),
        PublishPoolEvent(pool="p", event="breaker", state="open", message="5 failures"),
        PublishScheduleEvent(schedule="nightly", event="fired"),
        StopAgent(agent_id="a1", reason="died: OOM", lost=True),
        StopAgent(agent_id="a2", reason="idle"),
        ReleaseWorkflow(workflow_id="w"),  # tells nothing
    ]
    events = _published(lambda p: p.commands(commands))
    assert _brief(events) == [
        ("agent", "started", "a1"),
        ("deadline", "missed", "t2"),  # told as soon as seen, the task rows after
        ("task", "running", "t1"),
        ("task", "running", "t2"),
        ("task", "failed", "t1"),
        ("workflow", "failed", "w"),
        ("breaker", "open", "p"),
        ("schedule", "fired", "nightly"),
        ("agent", "lost", "a1"),
        ("agent", "stopped", "a2"),
    ]
    assert events[0].pool == "p"
    assert events[4].detail == "ValueError: boom" and events[4].attempt == 1
    assert events[8].detail == "died: OOM"
    assert events[2].topic == "events.task.running"


def test_heartbeat_verdicts_and_checkpoints() -> None:
    def act(publisher: LifecyclePublisher) -> None:
        publisher.heartbeat("a1", "slow", "pong after 2.5 s")
        publisher.checkpoint("ckpt/000012-full", None)
        publisher.checkpoint(None, OSError("disk full"))
        publisher.checkpoint(None, None)  # nothing to save: tells nothing

    events = _published(act)
    assert _brief(events) == [
        ("heartbeat", "slow", "a1"),
        ("checkpoint", "written", None),
        ("checkpoint", "failed", None),
    ]
    assert events[1].detail == "ckpt/000012-full"
    assert events[2].detail == "disk full"


def test_a_broken_bus_never_stops_the_supervisor() -> None:
    def broken() -> Bus:
        raise ConnectionError("no bus actor")

    publisher = LifecyclePublisher(broken, structlog.get_logger())
    publisher.heartbeat("a1", "dead", "gone")
    publisher.checkpoint("k", None)
    publisher.flush()
    assert publisher.failed == 2


def test_event_patterns() -> None:
    assert event_patterns(None) == ("events.*",)
    assert event_patterns(["task", "agent"]) == ("events.task.*", "events.agent.*")
    assert "checkpoint" in EVENT_KINDS
    with pytest.raises(ValueError, match="kinds"):
        event_patterns(["tasks"])
    with pytest.raises(ValueError, match="kinds"):
        event_patterns([])


def test_task_changes_travel_in_batches_per_workflow() -> None:
    bus = LocalBus("supervisor")
    sub = bus.subscribe("events.task.*", capacity=1000)
    publisher = LifecyclePublisher(lambda: bus, structlog.get_logger())
    count = TASK_ROWS_PER_MESSAGE + 5
    changes = [TaskEvent("big", f"t{n}", TaskState.CANCELLED, 0, "cancelled") for n in range(count)]
    changes.append(TaskEvent("small", "x", TaskState.SUCCEEDED, 1))
    publisher.commands([PublishTaskEvents(tuple(changes))])
    messages = sub.get_batch(1000, 0.0)
    # One message per workflow and TASK_ROWS_PER_MESSAGE rows, all on events.task.changed
    assert [(m.topic, m.payload["workflow_id"]) for m in messages] == [  # type: ignore[index,call-overload]
        ("events.task.changed", "big"),
        ("events.task.changed", "big"),
        ("events.task.changed", "small"),
    ]
    events = [e for m in messages for e in expand(m.payload)]
    assert len(events) == count + 1
    assert events[-1] == LifecycleEvent(
        kind="task",
        event="succeeded",
        workflow_id="small",
        task_id="x",
        attempt=1,
        time_s=events[-1].time_s,
    )
