"""`Dispatcher`: sends batches of attempts to agent hosts and collects how they ended.

Each `DispatchBatch` becomes one ``run_batch`` call with ``num_returns = attempts + 1``:
the first object is the small tuple of outcomes, the others are the results, which stay in
Ray's object store. The dispatcher hands their refs over as *candidates*: the supervisor
keeps one in its `ResultStore` only when the scheduler accepts that attempt's success, so
a late result of an attempt given up on never overwrites the accepted one. A call
finishes on a Ray thread; it is handed to the event loop, queued, and the supervisor's loop
`collect`s every finished call at once, so a burst of outcomes makes one core event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, NamedTuple

from ray.exceptions import RayActorError

from orchestrator.core.clock import Clock
from orchestrator.core.commands import AttemptOrder, DispatchBatch
from orchestrator.core.events import AttemptOutcome, LossCause
from orchestrator.runtime.loss_causes import classify_loss
from orchestrator.runtime.results import ResultStore
from orchestrator.runtime.tracing import WorkflowTracer
from orchestrator.runtime.wire import (
    MAX_CALL_ERROR_CHARS,
    AttemptPayload,
    call_failed,
    payload_of,
)


@dataclass(slots=True)
class _CallInFlight:
    agent_id: str
    orders: tuple[AttemptOrder, ...]
    result_refs: Sequence[Any]


class Collected(NamedTuple):
    """What the calls finished since the last `Dispatcher.collect` say.

    Attributes:
        outcomes: How each attempt of the calls that returned (or failed as a whole) ended.
        lost: Agent id -> (cause, reason), for agents whose calls died with them (their
            attempts are not in ``outcomes``: the core re-queues or charges them on
            `AgentLost`).
        candidates: (workflow id, task id, attempt number) -> result ref, of each attempt
            that returned normally, until the scheduler says whether it counts.
    """

    outcomes: tuple[AttemptOutcome, ...]
    lost: dict[str, tuple[LossCause, str]]
    candidates: dict[tuple[str, str, int], Any]


class Dispatcher:
    """Batches sent to agents and not yet collected; see the module docstring.

    Args:
        results: Where the refs of accepted results are kept (the upstream inputs).
        tracer: Records a span per finished or lost attempt.
        clock: Time of the outcomes of a call that failed before any attempt ran.
        wake: Called on the event loop when a call finished (wakes the supervisor's loop).
    """

    def __init__(
        self,
        results: ResultStore,
        tracer: WorkflowTracer,
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self._results = results
        self._tracer = tracer
        self._clock = clock
        self._wake = wake
        self._calls: dict[int, _CallInFlight] = {}
        self._completed: list[tuple[int, Future[Any] | BaseException]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        """Return how many calls are in flight (sent, not yet collected)."""
        return len(self._calls)

    @property
    def has_completed(self) -> bool:
        """Whether finished calls wait to be collected."""
        return bool(self._completed)

    def send(self, command: DispatchBatch, agent: Any) -> None:
        """Send ``command``'s attempts to ``agent`` (an agent host handle) in one call.

        Must run on the event loop, which then receives the call's completion.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        payload: list[AttemptPayload] = []
        refs: list[Any] = []
        slots: dict[tuple[str, str], int] = {}
        for order in command.attempts:
            indices = []
            results = self._results.of(order.workflow_id)
            for upstream in order.inputs:
                key = (order.workflow_id, upstream)
                slot = slots.get(key)
                if slot is None:
                    slot = slots[key] = len(refs)
                    refs.append(results[upstream])
                indices.append(slot)
            payload.append(payload_of(order, tuple(indices)))
        call_id = command.call_id
        try:
            method = agent.run_urgent if command.urgent else agent.run_batch
            returned = method.options(num_returns=len(payload) + 1).remote(payload, refs)
        except Exception as exc:  # e.g. an argument that cannot be pickled
            self._calls[call_id] = _CallInFlight(command.agent_id, command.attempts, ())
            self._mark_completed(call_id, exc)
            return
        self._calls[call_id] = _CallInFlight(command.agent_id, command.attempts, returned[1:])
        returned[0].future().add_done_callback(lambda f: self._on_call_done(call_id, f))

    def collect(self) -> Collected:
        """Return what the calls finished since the last collection say, result refs too."""
        completed, self._completed = self._completed, []
        outcomes: list[AttemptOutcome] = []
        candidates: dict[tuple[str, str, int], Any] = {}
        lost: dict[str, tuple[LossCause, str]] = {}
        for call_id, result in completed:
            call = self._calls.pop(call_id, None)
            if call is None:
                continue
            try:
                if isinstance(result, BaseException):
                    raise result
                records: tuple[AttemptOutcome, ...] = result.result()
            except RayActorError as exc:
                reason = f"{type(exc).__name__}: {exc}"[:MAX_CALL_ERROR_CHARS]
                lost[call.agent_id] = (classify_loss(exc), reason)
                self._tracer.attempts_lost(call.orders, reason)
                continue
            except Exception as exc:
                # The call itself failed (e.g. arguments or results not serialisable).
                # No attempt succeeded: result refs (none if it was never sent) go unread.
                records = call_failed(call.orders, exc, self._clock.now_s())
            for index, (outcome, order) in enumerate(zip(records, call.orders, strict=True)):
                outcomes.append(outcome)
                if outcome.ok:
                    key = (order.workflow_id, order.task_id, order.attempt)
                    candidates[key] = call.result_refs[index]
                self._tracer.attempt_finished(order, outcome, call.agent_id)
        return Collected(tuple(outcomes), lost, candidates)

    def _on_call_done(self, call_id: int, future: Future[Any]) -> None:
        # Runs on a Ray thread: hand over to the event loop.
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._mark_completed, call_id, future)

    def _mark_completed(self, call_id: int, result: Future[Any] | BaseException) -> None:
        self._completed.append((call_id, result))
        self._wake()
