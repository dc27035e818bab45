"""`Dispatcher`: every attempt sent comes back as an outcome or as a lost agent.

Driven with stand-in agent handles on a plain event loop: no Ray cluster is needed, only
Ray's exception types.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import pytest
from ray.exceptions import RayActorError

from orchestrator.core.clock import FakeClock
from orchestrator.core.commands import AttemptOrder, DispatchBatch
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.specs import Priority
from orchestrator.runtime.dispatcher import Collected, Dispatcher
from orchestrator.runtime.results import ResultStore
from orchestrator.runtime.tracing import WorkflowTracer
from orchestrator.runtime.wire import AttemptPayload
from orchestrator.settings import TracingSettings

pytestmark = pytest.mark.integration


def _order(attempt_id: int, inputs: tuple[str, ...] = ()) -> AttemptOrder:
    return AttemptOrder(
        attempt_id, "wf", f"t{attempt_id}", 1, None, (), {}, inputs, Priority.MEDIUM
    )


class _Ref:
    """Stands for the ObjectRef of a call's outcomes."""

    def __init__(self) -> None:
        self.done: Future[Any] = Future()

    def future(self) -> Future[Any]:
        return self.done


class _Agent:
    """Stands for an agent host handle: ``run_batch.options(...).remote(...)``."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.refuse = refuse
        self.sent: list[tuple[list[AttemptPayload], list[Any]]] = []
        self.outcomes_ref = _Ref()
        self.run_batch = self

    def options(self, **_: Any) -> _Agent:
        return self

    def remote(self, payload: list[AttemptPayload], refs: list[Any]) -> list[Any]:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append((payload, refs))
        return [self.outcomes_ref, *(f"result-of-{p.task_id}" for p in payload)]


def _dispatcher(results: ResultStore, woken: list[int]) -> Dispatcher:
    tracer = WorkflowTracer(None, TracingSettings())  # exporter "none": no spans
    return Dispatcher(results, tracer, FakeClock(5.0), lambda: woken.append(1))


def _run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_results_of_successful_attempts_are_candidates_and_inputs_sent_once() -> None:
    results = ResultStore()
    results.open("wf")
    results.put("wf", "up", "up-ref")
    agent = _Agent()
    woken: list[int] = []

    async def scenario() -> Collected:
        dispatcher = _dispatcher(results, woken)
        # Given a batch of two attempts that both read task "up"
        dispatcher.send(
            DispatchBatch("agent-1", 1, (_order(1, ("up",)), _order(2, ("up",)))), agent
        )
        # When the call returns: the first succeeded, the second failed
        agent.outcomes_ref.done.set_result(
            (AttemptOutcome(1, True, 1.0, 2.0), AttemptOutcome(2, False, 1.0, 2.0, "E", "no"))
        )
        await asyncio.sleep(0.01)  # the completion hops from a "Ray thread" to the loop
        assert dispatcher.has_completed
        return dispatcher.collect()

    collected = _run(scenario)

    # Then the shared input went once, both outcomes came back, and the successful one's
    # result is a candidate, not yet kept: the scheduler has not accepted it
    ((payload, refs),) = agent.sent
    assert refs == ["up-ref"]
    assert [p.input_slots for p in payload] == [(0,), (0,)]
    assert [o.attempt_id for o in collected.outcomes] == [1, 2]
    assert collected.lost == {}
    assert collected.candidates == {("wf", "t1", 1): "result-of-t1"}
    assert (results.get("wf", "t1"), results.get("wf", "t2")) == (None, None)
    assert woken


def test_a_call_that_cannot_be_sent_fails_each_of_its_attempts() -> None:
    # Given an agent call that fails before it leaves (e.g. an argument not picklable)
    results = ResultStore()
    results.open("wf")
    woken: list[int] = []

    async def scenario() -> tuple[Collected, int]:
        dispatcher = _dispatcher(results, woken)
        refusing = _Agent(refuse=TypeError("cannot pickle '_thread.lock' object"))
        dispatcher.send(DispatchBatch("agent-1", 7, (_order(1), _order(2))), refusing)
        return dispatcher.collect(), len(dispatcher)

    collected, in_flight = _run(scenario)

    # Then each attempt has a failed, non-retryable outcome: nothing is silently dropped
    assert [(o.attempt_id, o.ok, o.retryable) for o in collected.outcomes] == [
        (1, False, False),
        (2, False, False),
    ]
    assert collected.outcomes[0].error_type == "TypeError"
    assert collected.outcomes[0].started_s == 5.0  # the injected clock
    assert (collected.lost, in_flight, len(results)) == ({}, 0, 0)
    assert woken


def test_a_call_whose_agent_died_reports_the_agent_lost() -> None:
    results = ResultStore()
    results.open("wf")
    agent = _Agent()

    async def scenario() -> Collected:
        dispatcher = _dispatcher(results, [])
        dispatcher.send(DispatchBatch("agent-9", 3, (_order(1),)), agent)
        agent.outcomes_ref.done.set_exception(RayActorError())
        await asyncio.sleep(0.01)
        return dispatcher.collect()

    collected = _run(scenario)

    assert collected.outcomes == ()
    assert list(collected.lost) == ["agent-9"]
    cause, reason = collected.lost["agent-9"]
    # A bare RayActorError (not ActorDiedError) says nothing of a death: unreachable
    assert (cause, reason.startswith("RayActorError")) == ("unreachable", True)
