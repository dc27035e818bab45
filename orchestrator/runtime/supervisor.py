"""`Supervisor`: the actor that owns the `Scheduler` and carries out its commands.

It only decodes what happened into core events, calls ``Scheduler.handle`` and executes
the commands that come back (start/stop agents, dispatch batches, publish). Results stay in
Ray's object store: the supervisor keeps their ObjectRefs and passes them to dependent
tasks, and reads only each call's small outcome record.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import ray
import structlog
from opentelemetry.sdk.trace import TracerProvider
from ray.exceptions import RayActorError

from orchestrator.core.commands import (
    AttemptOrder,
    Command,
    DispatchBatch,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    StartAgent,
    StopAgent,
)
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.events import (
    AgentLost,
    AttemptOutcome,
    AttemptsFinished,
    ClusterObserved,
    Tick,
    WorkflowCancelRequested,
    WorkflowReleaseRequested,
    WorkflowSubmitted,
)
from orchestrator.core.heartbeat import AgentHealth
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.scheduler import Scheduler
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import TaskState
from orchestrator.core.status import RunSummary, SchedulerStatistics, TaskInfo, WorkflowStatus
from orchestrator.runtime.agent_host import agent_host_class
from orchestrator.runtime.clock import WallClock
from orchestrator.runtime.cluster import observe_nodes
from orchestrator.runtime.heartbeat import HeartbeatService
from orchestrator.runtime.ray_options import actor_options
from orchestrator.runtime.results import ResultStore
from orchestrator.runtime.tracing import WorkflowTracer
from orchestrator.runtime.wire import MAX_CALL_ERROR_CHARS, AttemptPayload, call_failed, payload_of
from orchestrator.settings import Settings
from orchestrator.telemetry.logging import configure_logging

#: Re-read the cluster's nodes at least this often (new or lost nodes change capacity).
CLUSTER_REFRESH_S = 10.0

_LOSS_CAUSES: dict[AgentHealth, Literal["died", "hung", "failed_to_start"]] = {
    AgentHealth.DEAD: "died",
    AgentHealth.HUNG: "hung",
    AgentHealth.FAILED_TO_START: "failed_to_start",
}


def _current_rss_bytes() -> int:
    """Return this process's resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * resource.getpagesize()


@dataclass(slots=True)
class _CallInFlight:
    agent_id: str
    orders: tuple[AttemptOrder, ...]
    result_refs: Sequence[Any]


class Supervisor:
    """Owns the scheduler; driven by drivers' calls, agents' outcomes and heartbeats.

    Args:
        settings: All settings (scheduler, heartbeat, logging, tracing).
        tracer_provider_factory: Builds the tracer provider in this process; by default one
            from ``settings.tracing``.
    """

    def __init__(
        self,
        settings: Settings,
        tracer_provider_factory: Callable[[], TracerProvider] | None = None,
    ) -> None:
        # Many long-lived small objects: collect young ones less often (fewer full scans).
        gc.set_threshold(50_000, 20, 100)
        configure_logging(settings.logging)
        self._settings = settings
        self._log = structlog.get_logger("orchestrator.supervisor")
        self._clock = WallClock()
        self._scheduler = Scheduler(self._clock, settings.scheduler)
        self._tracer = WorkflowTracer(tracer_provider_factory, settings.tracing)
        self._agents: dict[str, Any] = {}
        self._calls: dict[int, _CallInFlight] = {}
        self._results = ResultStore()
        self._finished: dict[str, asyncio.Event] = {}
        self._completed: list[tuple[int, Future[Any] | BaseException]] = []
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat: Any = None
        self._cluster_seen_s = 0.0
        self._heartbeat_synced_s = 0.0

    # -- driver-facing API ---------------------------------------------------------------

    async def submit(self, spec: PackedWorkflow | WorkflowSpec) -> tuple[Problem, ...]:
        """Validate and start a workflow; return the problems that refused it (or none).

        Drivers send it packed (`PackedWorkflow.pack`): a tuple per task rather than a
        pydantic model, a fraction of the memory and of the (un)pickling time.
        """
        if isinstance(spec, WorkflowSpec):
            spec = PackedWorkflow.pack(spec)
        self._ensure_running()
        self._observe_cluster(force=True)
        log = self._log.bind(workflow_id=spec.id)
        try:
            commands = self._scheduler.handle(WorkflowSubmitted(workflow=spec))
        except WorkflowRejectedError as exc:
            log.warning("workflow.rejected", problems=[str(p) for p in exc.problems])
            return exc.problems
        workflow_id = spec.id or ""
        self._finished[workflow_id] = asyncio.Event()
        self._results.open(workflow_id)
        self._tracer.workflow_started(spec)
        log.info("workflow.submitted", name=spec.name, tasks=len(spec.rows))
        self._execute(commands)
        return ()

    async def status(self, workflow_id: str) -> WorkflowStatus:
        """Return a workflow's counts per state. Raises `KeyError` for an unknown id."""
        return self._scheduler.workflow_status(workflow_id)

    async def wait(self, workflow_id: str, timeout_s: float | None = None) -> WorkflowStatus:
        """Wait until the workflow ends or ``timeout_s`` passes; return its status."""
        event = self._finished[workflow_id]
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        return self._scheduler.workflow_status(workflow_id)

    async def tasks(self, workflow_id: str) -> list[TaskInfo]:
        """Return every task's state, attempts, timings and errors."""
        return self._scheduler.task_infos(workflow_id)

    async def task(self, workflow_id: str, task_id: str) -> TaskInfo:
        """Return one task's state, attempts, timings and errors."""
        return self._scheduler.task_info(workflow_id, task_id)

    async def result_ref(self, workflow_id: str, task_id: str) -> tuple[TaskInfo, list[Any]]:
        """Return a task's info and, when it succeeded, ``[ObjectRef]`` of its result."""
        info = self._scheduler.task_info(workflow_id, task_id)
        ref = self._results.get(workflow_id, task_id)
        return info, ([ref] if ref is not None and info.state is TaskState.SUCCEEDED else [])

    async def summary(self, workflow_id: str) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up."""
        return self._scheduler.summary(workflow_id)

    async def workflows(self) -> list[WorkflowStatus]:
        """Return the status of every workflow, oldest first."""
        return [self._scheduler.workflow_status(w) for w in self._scheduler.workflow_ids()]

    async def cancel(self, workflow_id: str, reason: str = "cancelled by user") -> None:
        """Cancel every unfinished task of a workflow. Raises `KeyError` for an unknown id."""
        self._scheduler.workflow_status(workflow_id)
        self._handle(WorkflowCancelRequested(workflow_id=workflow_id, reason=reason))

    async def release(self, workflow_id: str) -> None:
        """Forget a finished workflow and free its results.

        Raises:
            KeyError: unknown workflow.
            ValueError: the workflow is still running.
        """
        self._handle(WorkflowReleaseRequested(workflow_id=workflow_id))

    async def statistics(self) -> SchedulerStatistics:
        """Return the scheduler's counters: workflows, tasks per state, pools, agents."""
        return self._scheduler.statistics()

    async def agents(self) -> dict[str, str]:
        """Return live agent ids and their pools."""
        return self._scheduler.agents()

    async def agent_handle(self, agent_id: str) -> list[Any]:
        """Return ``[handle]`` of a live agent (empty when unknown); for tests and tools."""
        handle = self._agents.get(agent_id)
        return [handle] if handle is not None else []

    async def agents_to_watch(self) -> dict[str, list[Any]]:
        """Return ``{agent id: [handle]}`` of live agents (the heartbeat's list after a restart)."""
        return {agent_id: [handle] for agent_id, handle in self._agents.items()}

    async def heartbeat_handle(self) -> list[Any]:
        """Return ``[handle]`` of the heartbeat actor (empty before the first workflow)."""
        return [self._heartbeat] if self._heartbeat is not None else []

    async def process_stats(self) -> dict[str, int]:
        """Return resident memory (now and peak) and current counts (tests, benchmarks)."""
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "rss_bytes": _current_rss_bytes(),
            "max_rss_bytes": peak_kib * 1024,
            "agents": len(self._agents),
            "calls_in_flight": len(self._calls),
            "results_held": len(self._results),
        }

    async def shutdown(self) -> None:
        """Stop every agent and the heartbeat; flush traces."""
        for agent_id in list(self._agents):
            self._kill(agent_id, unregister=False)  # the heartbeat goes too
        if self._heartbeat is not None:
            ray.kill(self._heartbeat, no_restart=True)
            self._heartbeat = None
        if self._loop_task is not None:
            self._loop_task.cancel()
        self._tracer.shutdown()

    # -- heartbeat-facing API ------------------------------------------------------------

    async def report_agent_health(self, agent_id: str, health: str, detail: str) -> None:
        """Receive a health change from the heartbeat actor."""
        state = AgentHealth(health)
        log = self._log.bind(agent_id=agent_id, health=health, detail=detail)
        if not state.needs_replacement:
            (log.warning if state is AgentHealth.SLOW else log.debug)("agent.health")
            return
        log.warning("agent.replacing")
        self._handle(AgentLost(agent_id=agent_id, cause=_LOSS_CAUSES[state], reason=detail))

    # -- the loop ------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._wake = asyncio.Event()
        self._loop_task = asyncio.get_running_loop().create_task(self._run())
        if self._heartbeat is None:
            me = ray.get_runtime_context().current_actor
            # Restarted by Ray if its process dies; its memory is then gone, so the
            # supervisor asks it to resync with the live agents now and then.
            self._heartbeat = (
                ray.remote(HeartbeatService)
                .options(num_cpus=0, max_restarts=-1, max_task_retries=-1)
                .remote(me, self._settings.heartbeat, self._settings.logging)
            )
            self._heartbeat.resync.remote()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            wakeup_s = self._scheduler.next_wakeup_s()
            timeout_s = min(CLUSTER_REFRESH_S, self._settings.heartbeat.resync_interval_s)
            if wakeup_s is not None:
                timeout_s = min(timeout_s, max(wakeup_s - time.time(), 0.0))
            if not self._completed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout_s)
            self._wake.clear()
            try:
                self._drain_completed()
                if wakeup_s is not None and time.time() >= wakeup_s:
                    self._handle(Tick())
                self._observe_cluster(force=False)
                self._resync_heartbeat()
            except Exception:
                self._log.exception("supervisor.loop_error")

    def _on_call_done(self, call_id: int, future: Future[Any]) -> None:
        # Runs on a Ray thread: hand over to the event loop.
        self._loop.call_soon_threadsafe(self._mark_completed, call_id, future)

    def _mark_completed(self, call_id: int, result: Future[Any] | BaseException) -> None:
        self._completed.append((call_id, result))
        if self._wake is not None:
            self._wake.set()

    def _drain_completed(self) -> None:
        completed, self._completed = self._completed, []
        outcomes: list[AttemptOutcome] = []
        lost: dict[str, str] = {}
        for call_id, result in completed:
            call = self._calls.pop(call_id, None)
            if call is None:
                continue
            try:
                if isinstance(result, BaseException):
                    raise result
                records: tuple[AttemptOutcome, ...] = result.result()
            except RayActorError as exc:
                lost[call.agent_id] = f"{type(exc).__name__}: {exc}"[:MAX_CALL_ERROR_CHARS]
                self._tracer.attempts_lost(call.orders, lost[call.agent_id])
                continue
            except Exception as exc:
                # The call itself failed (e.g. arguments or results not serialisable).
                records = call_failed(call.orders, exc, time.time())
            for outcome, order, ref in zip(records, call.orders, call.result_refs, strict=True):
                outcomes.append(outcome)
                if outcome.ok:
                    self._results.put(order.workflow_id, order.task_id, ref)
                self._tracer.attempt_finished(order, outcome, call.agent_id)
        if outcomes:
            self._handle(AttemptsFinished(outcomes=tuple(outcomes)))
        for agent_id, reason in lost.items():
            self._handle(AgentLost(agent_id=agent_id, cause="died", reason=reason))

    def _handle(self, event: Any) -> None:
        self._execute(self._scheduler.handle(event))

    def _observe_cluster(self, *, force: bool) -> None:
        now = time.time()
        if not force and now - self._cluster_seen_s < CLUSTER_REFRESH_S:
            return
        self._cluster_seen_s = now
        self._handle(ClusterObserved(nodes=observe_nodes()))

    def _resync_heartbeat(self) -> None:
        now = time.time()
        if now - self._heartbeat_synced_s < self._settings.heartbeat.resync_interval_s:
            return
        self._heartbeat_synced_s = now
        if self._heartbeat is not None and self._agents:
            self._heartbeat.resync.remote()

    # -- commands ------------------------------------------------------------------------

    def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, DispatchBatch):
                self._dispatch(command)
            elif isinstance(command, StartAgent):
                self._start_agent(command)
            elif isinstance(command, StopAgent):
                self._stop_agent(command)
            elif isinstance(command, PublishTaskEvents):
                self._publish_tasks(command)
            elif isinstance(command, PublishWorkflowEvent):
                self._publish_workflow(command)
            elif isinstance(command, ReleaseWorkflow):
                self._results.release(command.workflow_id)
                self._finished.pop(command.workflow_id, None)
                self._log.debug("workflow.released", workflow_id=command.workflow_id)

    def _dispatch(self, command: DispatchBatch) -> None:
        agent = self._agents[command.agent_id]
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
        try:
            returned = agent.run_batch.options(num_returns=len(payload) + 1).remote(payload, refs)
        except Exception as exc:  # e.g. an argument that cannot be pickled
            self._calls[command.call_id] = _CallInFlight(command.agent_id, command.attempts, ())
            failed: Future[Any] = Future()
            failed.set_exception(exc)
            self._mark_completed(command.call_id, failed)
            return
        self._calls[command.call_id] = _CallInFlight(
            command.agent_id, command.attempts, returned[1:]
        )
        call_id = command.call_id
        returned[0].future().add_done_callback(lambda f: self._on_call_done(call_id, f))

    def _start_agent(self, command: StartAgent) -> None:
        pool = command.pool
        actor_class = agent_host_class(pool.max_concurrency)
        handle = actor_class.options(**actor_options(pool.resources)).remote(
            command.agent_id, pool.agent_class, pool.init_kwargs, self._settings.logging
        )
        self._agents[command.agent_id] = handle
        if self._heartbeat is not None:
            self._heartbeat.register.remote(command.agent_id, [handle])
        self._log.debug("agent.started", agent_id=command.agent_id, pool=pool.key)

    def _stop_agent(self, command: StopAgent) -> None:
        self._kill(command.agent_id)
        self._log.info("agent.stopped", agent_id=command.agent_id, reason=command.reason)

    def _kill(self, agent_id: str, *, unregister: bool = True) -> None:
        handle = self._agents.pop(agent_id, None)
        if unregister and self._heartbeat is not None:
            self._heartbeat.unregister.remote(agent_id)
        if handle is not None:
            ray.kill(handle, no_restart=True)

    def _publish_tasks(self, command: PublishTaskEvents) -> None:
        log = self._log
        for event in command.events:
            if event.state is TaskState.SUCCEEDED:
                continue
            level = "warning" if event.state in (TaskState.FAILED, TaskState.RETRY_WAIT) else "info"
            getattr(log, level)(
                f"task.{event.state.value}",
                workflow_id=event.workflow_id,
                task_id=event.task_id,
                attempt=event.attempt,
                detail=event.message,
            )

    def _publish_workflow(self, command: PublishWorkflowEvent) -> None:
        self._log.info(
            "workflow.finished",
            workflow_id=command.workflow_id,
            state=command.state.value,
            counts=command.message,
        )
        self._tracer.workflow_finished(command.workflow_id, command.state)
        event = self._finished.get(command.workflow_id)
        if event is not None:
            event.set()

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop_task is not None
        return self._loop_task.get_loop()
