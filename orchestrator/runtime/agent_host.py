"""`AgentHost`: the actor that hosts one replica of an agent class.

It has three concurrency groups: ``work`` (as many threads as the agent's
``max_concurrency``) runs batches of tasks; ``urgent`` (one thread) runs a CRITICAL task
sent to the urgent lane while every work thread is taken (see `core.preemption`); and
``health`` (one thread) answers pings and stop requests, so a replica busy with a long
task still answers its heartbeat. A replica that does not answer is therefore truly stuck
(e.g. C code holding the GIL), not merely busy.
"""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import ray
from ray.exceptions import ObjectLostError

from orchestrator.agent import NonRetryableError, TaskContext, TaskPreempted, running
from orchestrator.core.events import AttemptOutcome, AttemptProgress
from orchestrator.core.secrets import SecretLostError, reveal
from orchestrator.core.specs import substitute_outputs
from orchestrator.import_paths import import_object
from orchestrator.runtime.bus.agents import AgentBusAccess, AgentBusLink
from orchestrator.runtime.conditions import judge
from orchestrator.runtime.wire import AttemptPayload, failed, inputs_lost, succeeded
from orchestrator.settings import LoggingSettings
from orchestrator.telemetry.logging import configure_logging
from orchestrator.telemetry.propagation import attempt_parent

#: Largest ``ctx.heartbeat`` details, pickled: they travel with every health check.
MAX_HEARTBEAT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class AgentPulse:
    """A replica's answer to a ping.

    Attributes:
        agent_id: The replica.
        tasks_done: Attempts finished since it started.
        running: (task id, seconds running) of each attempt in progress.
        progress: The latest progress each running attempt reported since the last ping.
    """

    agent_id: str
    tasks_done: int
    running: tuple[tuple[str, float], ...]
    progress: tuple[AttemptProgress, ...] = ()


class AgentHost:
    """Hosts one agent instance; see the module docstring."""

    def __init__(
        self,
        agent_id: str,
        agent_class: type[Any] | str,
        init_kwargs: dict[str, Any],
        logging_settings: LoggingSettings,
        tracer_provider_factory: Callable[[], Any] | None = None,
        bus: AgentBusAccess | None = None,
    ) -> None:
        configure_logging(logging_settings)
        if tracer_provider_factory is not None:
            # This process hosts this one agent: its handlers' spans (OpenTelemetry's
            # global API) go where the supervisor's go, under their attempts' spans.
            from opentelemetry import trace

            trace.set_tracer_provider(tracer_provider_factory())
        cls = import_object(agent_class) if isinstance(agent_class, str) else agent_class
        self._agent_id = agent_id
        self._agent = cls(**init_kwargs)
        setup = getattr(self._agent, "setup", None)
        if callable(setup):
            setup()
        # The bus (ctx.publish/request; on_request answers): None for hosts without one.
        self._bus = AgentBusLink(bus, agent_id) if bus is not None else None
        if self._bus is not None:
            self._bus.serve(self._agent)
        self._handle: Callable[[TaskContext], Any] = self._agent.handle
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, float]] = {}
        self._progress: dict[int, AttemptProgress] = {}
        self._tasks_done = 0
        # Attempts the supervisor asked to stop (preempted); read by ``ctx.should_stop``.
        self._stop: set[int] = set()
        # Attempts to hand back if they have not started (another workflow waits).
        self._hand_back: set[int] = set()

    @ray.method(concurrency_group="work")
    def run_batch(self, batch: Sequence[AttemptPayload], refs: Sequence[Any]) -> tuple[Any, ...]:
        """Run attempts one after the other; return their outcomes, then each result.

        Called with ``num_returns=len(batch) + 1``, so each result lands in the object
        store as its own object and the caller receives only the small outcome tuple.
        """
        return self._run(batch, refs)

    @ray.method(concurrency_group="urgent")
    def run_urgent(self, batch: Sequence[AttemptPayload], refs: Sequence[Any]) -> tuple[Any, ...]:
        """`run_batch` in the urgent lane: its own thread, beside the work threads."""
        return self._run(batch, refs)

    @ray.method(concurrency_group="health")
    def request_stop(self, attempt_ids: Sequence[int], unstarted_only: bool = False) -> None:
        """Ask attempts to stop: running ones see ``ctx.should_stop``; others never start.

        ``unstarted_only``: only those not started yet are handed back (unstarted, as
        `TaskPreempted`); the running one goes on as if nothing was asked.
        """
        with self._lock:
            (self._hand_back if unstarted_only else self._stop).update(attempt_ids)

    def _run(self, batch: Sequence[AttemptPayload], refs: Sequence[Any]) -> tuple[Any, ...]:
        try:
            values, lost_slots, detail = _fetch_inputs(refs)
        except Exception as exc:  # not a lost object (those are told apart): fail, retry
            now = time.time()
            failures = tuple(
                failed(item.attempt_id, now, now, exc, retryable=True) for item in batch
            )
            return (failures, *([None] * len(batch)))
        outcomes: list[AttemptOutcome] = []
        results: list[Any] = []
        ident = threading.get_ident()
        for item in batch:
            slots = item.input_slots
            if lost_slots and not lost_slots.isdisjoint(slots):
                lost = tuple(
                    task
                    for task, slot in zip(item.input_ids, slots, strict=True)
                    if slot in lost_slots
                )
                outcomes.append(inputs_lost(item.attempt_id, lost, time.time(), detail))
                results.append(None)
                continue
            inputs = {task: values[slot] for task, slot in zip(item.input_ids, slots, strict=True)}
            if (not_run := self._not_started(item, inputs)) is not None:
                outcomes.append(not_run)
                results.append(None)
                continue
            args, kwargs, function = item.args, item.kwargs, item.function
            started = time.time()
            with self._lock:
                self._running[ident] = (item.task_id, started)
                if item.watch_progress:  # its heartbeat timeout counts from here
                    mark = AttemptProgress(item.attempt_id, started, reported=False)
                    self._progress[item.attempt_id] = mark
            try:
                if inputs:
                    args = substitute_outputs(args, inputs)
                    kwargs = substitute_outputs(kwargs, inputs)
                args, kwargs = reveal(args), reveal(kwargs)  # secrets: the plain value
                context = TaskContext(
                    item.workflow_id,
                    item.task_id,
                    item.attempt,
                    self._agent_id,
                    args,
                    kwargs,
                    inputs,
                    _resolve(function) if isinstance(function, str) else function,
                    item.last_heartbeat,
                    _report_progress=self._reporter(item.attempt_id),
                    _stop_requested=partial(self._stop.__contains__, item.attempt_id),
                    _bus=self._bus,
                )
                with running(context), attempt_parent(item.trace_parent):
                    result = self._handle(context)
            except Exception as exc:
                retryable = not isinstance(exc, NonRetryableError | SecretLostError)
                outcomes.append(
                    failed(item.attempt_id, started, time.time(), exc, retryable=retryable)
                )
                results.append(None)
            else:
                outcomes.append(succeeded(item.attempt_id, started, time.time()))
                results.append(result)
        with self._lock:
            self._running.pop(ident, None)
            self._tasks_done += len(batch)
            if self._stop:
                self._stop.difference_update(item.attempt_id for item in batch)
            if self._hand_back:
                self._hand_back.difference_update(item.attempt_id for item in batch)
        return (tuple(outcomes), *results)

    def _not_started(self, item: AttemptPayload, inputs: dict[str, Any]) -> AttemptOutcome | None:
        """Return the outcome of an attempt that must not start, or None: it runs.

        Preempted before it started: handed back. A conditional task whose ``run_if``
        predicate does not answer True: skipped or failed (`conditions.judge`).
        """
        now = time.time()
        if item.attempt_id in self._stop or item.attempt_id in self._hand_back:
            preempted = TaskPreempted("asked to stop before it started")
            return failed(item.attempt_id, now, now, preempted, retryable=True)
        if item.run_if is not None:
            return judge(item.attempt_id, item.run_if, inputs, now)
        return None

    @ray.method(concurrency_group="health")
    def ping(self) -> AgentPulse:
        """Answer a heartbeat with what the replica is doing and the progress reported."""
        now = time.time()
        with self._lock:
            running = tuple((task, now - since) for task, since in self._running.values())
            done = self._tasks_done
            progress, self._progress = tuple(self._progress.values()), {}
        return AgentPulse(self._agent_id, done, running, progress)

    def _reporter(self, attempt_id: int) -> Callable[[Any], None]:
        """Return ``ctx.heartbeat`` for one attempt: keeps its latest details for the ping."""

        def report(details: Any) -> None:
            check_heartbeat_details(details)
            with self._lock:
                self._progress[attempt_id] = AttemptProgress(attempt_id, time.time(), details)

        return report


def _fetch_inputs(refs: Sequence[Any]) -> tuple[list[Any], set[int], str]:
    """Fetch the upstream results of a batch; tell which could not be fetched.

    Returns:
        The values (None where lost), the indices of the refs whose objects are lost
        (with their node or owner), and the first loss's error text.
    """
    if not refs:
        return [], set(), ""
    try:
        return ray.get(list(refs)), set(), ""
    except ObjectLostError:
        pass
    values: list[Any] = []
    lost: set[int] = set()
    detail = ""
    for index, ref in enumerate(refs):  # one by one, to know which are gone
        try:
            values.append(ray.get(ref))
        except ObjectLostError as exc:
            values.append(None)
            lost.add(index)
            detail = detail or f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return values, lost, detail


def check_heartbeat_details(details: Any) -> None:
    """Refuse heartbeat details that cannot be pickled or are over `MAX_HEARTBEAT_BYTES`."""
    if details is None:
        return
    try:
        size = len(pickle.dumps(details, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        raise TypeError(f"heartbeat details cannot be pickled: {exc}") from exc
    if size > MAX_HEARTBEAT_BYTES:
        raise ValueError(
            f"heartbeat details are {size} bytes pickled; the limit is {MAX_HEARTBEAT_BYTES}"
            " (report a position or a key, and keep large state in storage)"
        )


@cache
def _resolve(path: str) -> Callable[..., Any]:
    try:
        function = import_object(path)
    except ImportError as exc:
        raise NonRetryableError(str(exc)) from exc
    if not callable(function):
        raise NonRetryableError(f"{path!r} is not callable")
    return function  # type: ignore[no-any-return]


@cache
def agent_host_class(max_concurrency: int) -> Any:
    """Return the Ray actor class for replicas running ``max_concurrency`` tasks at once.

    Concurrency groups cannot be set in ``.options()``, hence one class per value.
    """
    groups = {"health": 1, "work": max_concurrency, "urgent": 1}
    return ray.remote(concurrency_groups=groups)(AgentHost)  # type: ignore[call-overload]
