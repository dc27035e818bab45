"""Lifecycle events on the bus, as a driver sees them: streams, callbacks, progress."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from orchestrator import Orchestrator, Workflow, WorkflowState
from orchestrator.runtime.bus import BusMessage
from orchestrator.runtime.bus.lifecycle import LifecycleEvent
from tests.integration import workloads

pytestmark = pytest.mark.integration


def _failing(name: str) -> Workflow:
    wf = Workflow(name)
    first = wf.task("first", workloads.add, args=(1, 2))
    wf.task("second", workloads.add, args=(first.output, 10))
    wf.task("broken", workloads.fail, args=("boom",), retry={"max_attempts": 2})
    return wf


def test_a_workflow_stream_tells_every_state_change_and_ends_with_it(
    orchestrator: Orchestrator,
) -> None:
    # Given a stream of one workflow's events, opened before it is submitted
    with orchestrator.events(workflow_id="events-a") as stream:
        run = orchestrator.submit(_failing("events"), workflow_id="events-a")
        # When it runs to its end
        events = list(stream)  # ends with the workflow's own end event
    assert run.wait(timeout_s=60).state is WorkflowState.FAILED
    # Then every task's changes came, in order per task, then the workflow's end
    by_task: dict[str, list[str]] = {}
    for event in events:
        assert event.workflow_id == "events-a"
        if event.kind == "task":
            assert event.task_id is not None
            by_task.setdefault(event.task_id, []).append(event.event)
    assert by_task["first"][-1] == "succeeded"
    assert by_task["second"][-1] == "succeeded"
    assert "retry_wait" in by_task["broken"]
    assert by_task["broken"][-1] == "failed"
    assert (events[-1].kind, events[-1].event) == ("workflow", "failed")
    assert stream.finished


def test_kinds_filter_and_the_callback_form(orchestrator: Orchestrator) -> None:
    seen: list[LifecycleEvent] = []
    done = threading.Event()

    def collect(event: LifecycleEvent) -> None:
        seen.append(event)
        if event.workflow_id == "events-b" and event.kind == "workflow":
            done.set()

    listener = orchestrator.on_event(collect, kinds=["workflow"])
    try:
        wf = Workflow("ok")
        wf.task("only", workloads.add, args=(2, 2))
        orchestrator.submit(wf, workflow_id="events-b")
        assert done.wait(60)
    finally:
        listener.stop()
    assert {e.kind for e in seen} == {"workflow"}
    assert [e.event for e in seen if e.workflow_id == "events-b"] == ["succeeded"]
    assert listener.errors == []
    with pytest.raises(ValueError, match="kinds"):
        orchestrator.events(kinds=["tasks"])


def test_agent_events_and_async_iteration(orchestrator: Orchestrator) -> None:
    async def first_agent_event() -> LifecycleEvent:
        stream = orchestrator.events(kinds=["agent", "task"], until_finished=False)
        try:
            wf = Workflow("agent-events")
            wf.task("t", workloads.sleep_then, args=(0.1, 1))
            orchestrator.submit(wf, workflow_id="events-c")
            async for event in stream:
                if event.kind == "agent" or event.workflow_id == "events-c":
                    return event
        finally:
            stream.close()
        raise AssertionError("the stream ended")

    event = asyncio.run(asyncio.wait_for(first_agent_event(), 60))
    # An agent may already be up (earlier tests): then the task's events come first
    assert event.kind in {"agent", "task"}
    if event.kind == "agent":
        assert event.event == "started" and event.agent_id and event.pool


def test_progress_follows_events(orchestrator: Orchestrator) -> None:
    wf = Workflow("progress")
    wf.task("a", workloads.sleep_then, args=(0.3, 1))
    wf.task("b", workloads.sleep_then, args=(0.3, 2), depends_on=["a"])
    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=60, progress=True)
    assert status.state is WorkflowState.SUCCEEDED
    # The stream it opened is gone from the bus again
    live = orchestrator.bus.statistics().subscriptions
    assert not [s for s in live if s.id.startswith("run-")]


def test_driver_requests_reach_a_responder_over_the_orchestrators_bus(
    orchestrator: Orchestrator,
) -> None:
    other = orchestrator.bus.client("agent-echo")  # type: ignore[attr-defined]
    responder = other.serve("agent.echo", lambda m: {"echo": m.payload})
    try:
        reply: BusMessage = orchestrator.bus.request("agent.echo", [1, 2], timeout_s=30)
        assert reply.payload == {"echo": [1, 2]}
    finally:
        responder.stop()
        other.close()


def test_the_supervisor_never_waits_for_a_slow_reader(orchestrator: Orchestrator) -> None:
    # Given a driver stream of capacity 5 that nobody reads
    stream = orchestrator.events(capacity=5)
    try:
        wf = Workflow("many")
        for index in range(30):
            wf.task(f"t{index}", workloads.add, args=(index, 1))
        started = time.monotonic()
        run = orchestrator.submit(wf)
        # Then the workflow ends all the same, and the drops are counted
        assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
        assert time.monotonic() - started < 60
        stats = orchestrator.bus.statistics().subscription(stream.subscription.id)
        assert stats.depth == 5
        assert stats.dropped > 0
    finally:
        stream.close()


def test_publishing_with_no_trigger_starts_nothing(orchestrator: Orchestrator) -> None:
    assert orchestrator.publish("no-trigger-here", {"a": 1}, timeout_s=30) == []
    assert orchestrator.publish("no-trigger-here", None, wait=False) == []
    with pytest.raises(ValueError, match="JSON-shaped"):
        orchestrator.publish("no-trigger-here", {1, 2})
