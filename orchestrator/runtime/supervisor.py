"""`Supervisor`: the actor that owns the `Scheduler` and carries out its commands.

It only decodes what happened into core events, calls ``Scheduler.handle`` and executes
the commands that come back (start/stop agents, dispatch batches, publish). Results stay in
Ray's object store: the supervisor keeps their ObjectRefs and passes them to dependent
tasks, and reads only each call's small outcome record.

Its clock, logger, tracer and heartbeat are injected; `orchestrator.runtime.spawn` wires
them and sets the supervisor's process up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, assert_never

import ray
from structlog.typing import FilteringBoundLogger

from orchestrator.core.admission import Preparation, prepare
from orchestrator.core.clock import Clock
from orchestrator.core.commands import (
    Command,
    DispatchBatch,
    PublishPoolEvent,
    PublishScheduleEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    StartAgent,
    StopAgent,
    StopAttempts,
    SubmitScheduledRun,
)
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.events import (
    AdmissionContinued,
    AgentLost,
    AttemptsFinished,
    DeadLettersPurgeRequested,
    DeadLettersRequeueRequested,
    Event,
    ScheduleAdded,
    ScheduleRemoved,
    Tick,
    WorkflowCancelRequested,
    WorkflowEdited,
    WorkflowPauseRequested,
    WorkflowReleaseRequested,
    WorkflowResumeRequested,
    WorkflowSubmitted,
)
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.scheduler import Scheduler
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import TaskState, WorkflowState
from orchestrator.core.status import WorkflowStatus
from orchestrator.runtime.agent_registry import AgentRegistry
from orchestrator.runtime.bus.agents import agent_bus_access
from orchestrator.runtime.bus.lifecycle import LifecyclePublisher
from orchestrator.runtime.bus.wiring import supervisor_bus
from orchestrator.runtime.caching import CacheKeeper
from orchestrator.runtime.dispatcher import Dispatcher
from orchestrator.runtime.durability import Durability, scope_prefix
from orchestrator.runtime.event_log import log_task_events, log_workflow_event
from orchestrator.runtime.heartbeat_reports import HeartbeatReports
from orchestrator.runtime.loop_wait import wait_for_wake
from orchestrator.runtime.metrics import SupervisorMetrics
from orchestrator.runtime.restoring import restore_schedules, restore_workflows
from orchestrator.runtime.results import ResultStore
from orchestrator.runtime.self_profile import SelfProfiler
from orchestrator.runtime.supervisor_queries import SupervisorQueries
from orchestrator.runtime.supervisor_triggers import SupervisorTriggers
from orchestrator.runtime.supervisor_upkeep import (
    CLUSTER_REFRESH_S,
    SUBMIT_CLUSTER_REFRESH_S,
    SupervisorUpkeep,
)
from orchestrator.runtime.tracing import WorkflowTracer
from orchestrator.settings import Settings
from orchestrator.storage import StorageError

#: Workflows of this many tasks or more are checked and ranked in a worker thread.
PREPARE_OFF_LOOP_TASKS = 2_000


class Supervisor(SupervisorQueries, HeartbeatReports, SupervisorUpkeep, SupervisorTriggers):
    """Owns the scheduler; driven by drivers' calls, agents' outcomes and heartbeats.

    Args:
        settings: All settings (scheduler, heartbeat, logging, tracing).
        clock: The scheduler's and the loop's time (the wall clock in production).
        log: Where the supervisor logs (structlog, configured by the wiring).
        tracer: Makes the spans of workflows and attempts.
        start_heartbeat: Starts the heartbeat actor and returns its handle; called once,
            when the first workflow arrives, inside this actor's process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        log: FilteringBoundLogger,
        tracer: WorkflowTracer,
        start_heartbeat: Callable[[], Any],
    ) -> None:
        self._settings = settings
        self._log = log
        self._clock = clock
        self._scheduler = Scheduler(clock, settings.scheduler)
        self._tracer = tracer
        self._agents = AgentRegistry(
            settings.logging,
            log,
            start_heartbeat,
            tracer.agent_factory,
            agent_bus_access(settings),
        )
        self._events = LifecyclePublisher(partial(supervisor_bus, settings), log)
        self._results = ResultStore()
        # Result refs of the outcomes being handled, until the scheduler accepts them.
        self._candidates: dict[tuple[str, str, int], Any] = {}
        # Workflows too large for per-task lines at info level (see LoggingSettings).
        self._quiet_workflows: set[str] = set()
        self._metrics = SupervisorMetrics(settings.metrics, clock)
        metrics = self._metrics.call_finished
        self._dispatcher = Dispatcher(self._results, tracer, clock, self._wake_loop, metrics)
        self._finished: dict[str, asyncio.Event] = {}
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._cluster_seen_s = 0.0
        self._heartbeat_synced_s = 0.0
        scope = scope_prefix(settings.ray.namespace, settings.ray.supervisor_name)
        self._durability = Durability(settings.checkpoint, scope, clock, log)
        # Checkpoints are written by one worker thread, one at a time (see `_save_now`).
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._save_lock = asyncio.Lock()
        self._save_task: asyncio.Task[str | None] | None = None
        self._cache = CacheKeeper(self._durability.store, scope, clock, log)
        self._profiler = SelfProfiler()  # debug only: off unless its variable is set
        self._start_triggers()  # messages on the bus wait for no driver call
        if self._durability.enabled:
            self._observe_cluster(force=True)
            restored = restore_workflows(
                self._durability, self._scheduler, self._results, self._open_restored, log
            )
            restored += restore_schedules(self._durability, self._scheduler)
            if restored or self._durability.restorable_schedules:
                self._ensure_running()  # missed firings are due at its first tick
                self._execute(restored)

    # -- driver-facing API ---------------------------------------------------------------

    async def submit(self, spec: PackedWorkflow | WorkflowSpec) -> tuple[Problem, ...]:
        """Validate and start a workflow; return the problems that refused it (or none).

        Drivers send it packed (`PackedWorkflow.pack`): a tuple per task rather than a
        pydantic model, a fraction of the memory and of the (un)pickling time. A large one
        is prepared in a worker thread, then admitted in slices by the loop (`_run`).
        """
        if isinstance(spec, WorkflowSpec):
            spec = PackedWorkflow.pack(spec)
        self._ensure_running()
        prepared = None
        if len(spec.rows) >= PREPARE_OFF_LOOP_TASKS:  # the loop dispatches meanwhile
            ranked = self._settings.scheduler.rank_by_critical_path
            learned = self._scheduler.learned_lookup()
            config = self._settings.scheduler  # its tasks are placed in pools there too
            prepared = await asyncio.to_thread(prepare, spec, ranked, learned, config)
        fresh = self._observe_cluster(force=False, max_age_s=SUBMIT_CLUSTER_REFRESH_S)
        problems = self._submit(spec, prepared)
        if problems and not fresh and _about_resources(problems):
            # Refused by a reading up to a second old: a node may have joined since.
            self._observe_cluster(force=True)
            problems = self._submit(spec, prepared)
        if not problems:
            await self._admitted(spec.id or "")  # a slice at a time, by the loop (`_run`)
            await self._save_now()  # durable before the driver hears it was accepted
        return problems

    def _submit(
        self, spec: PackedWorkflow, prepared: Preparation | None = None
    ) -> tuple[Problem, ...]:
        log = self._log.bind(workflow_id=spec.id)
        hits, problems = self._cache.look_up(spec)
        try:
            if problems:
                raise WorkflowRejectedError(spec.id or spec.name, problems)
            event = WorkflowSubmitted(
                workflow=spec, cached=tuple(hits), prepared=prepared, in_slices=True
            )
            commands = self._scheduler.handle(event)
        except WorkflowRejectedError as exc:
            self._cache.released(spec.id or "")
            log.warning("workflow.rejected", problems=[str(p) for p in exc.problems])
            return exc.problems
        self._open_workflow(spec)
        for task_id, value in hits.items():  # before the dispatches that need them
            self._results.put(spec.id or "", task_id, ray.put(value))
        log.info("workflow.submitted", name=spec.name, tasks=len(spec.rows))
        if self._durability.enabled:
            try:
                self._durability.admitted(spec)
            except (StorageError, OSError) as exc:
                log.error("workflow.not_durable", reason=str(exc))
        self._execute(commands)
        if self._scheduler.admitting():
            self._wake_loop()  # the loop admits the next slices (`_admit_slices`)
        return ()

    def _open_restored(self, spec: PackedWorkflow) -> asyncio.Event:
        self._cache.restored(spec)
        return self._open_workflow(spec)

    def _open_workflow(self, spec: PackedWorkflow) -> asyncio.Event:
        """Start keeping an admitted (or restored) workflow's results and end."""
        workflow_id = spec.id or ""
        finished = self._finished[workflow_id] = asyncio.Event()
        self._results.open(workflow_id)
        if len(spec.rows) > self._settings.logging.task_lines_max_tasks:
            self._quiet_workflows.add(workflow_id)
        self._tracer.workflow_started(spec)
        return finished

    async def wait(self, workflow_id: str, timeout_s: float | None = None) -> WorkflowStatus:
        """Wait until the workflow ends or ``timeout_s`` passes; return its status."""
        event = self._finished[workflow_id]
        if not event.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout_s)
        return self._scheduler.workflow_status(workflow_id)

    async def edit(
        self, workflow_id: str, additions: PackedWorkflow, edges: tuple[tuple[str, str], ...] = ()
    ) -> tuple[Problem, ...]:
        """Add tasks to a running workflow; return the problems that refused the edit.

        Raises `KeyError` for an unknown workflow.
        """
        self._ensure_running()
        try:
            self._handle(WorkflowEdited(workflow_id=workflow_id, additions=additions, edges=edges))
        except WorkflowRejectedError as exc:
            return exc.problems
        self._durability.edited(workflow_id, additions, edges)
        await self._save_now()
        return ()

    async def add_schedule(self, schedule: ScheduleSpec, workflow: PackedWorkflow) -> None:
        """Start ``workflow`` again and again as ``schedule`` says.

        Raises:
            WorkflowRejectedError: the workflow fails validation (nothing is kept).
            ValueError: a schedule of that name exists.
        """
        self._ensure_running()
        self._observe_cluster(force=True)
        self._handle(ScheduleAdded(schedule=schedule, workflow=workflow))
        self._durability.schedules_changed()
        await self._save_now()

    async def remove_schedule(self, name: str) -> None:
        """Stop a schedule (its runs go on). Raises `KeyError` for an unknown name."""
        self._handle(ScheduleRemoved(name=name))
        self._durability.schedules_changed()
        await self._save_now()

    async def cancel(self, workflow_id: str, reason: str = "cancelled by user") -> None:
        """Cancel every unfinished task of a workflow. Raises `KeyError` for an unknown id."""
        self._scheduler.workflow_status(workflow_id)
        self._handle(WorkflowCancelRequested(workflow_id=workflow_id, reason=reason))
        self._durability.workflow_changed(workflow_id)
        await self._save_now()

    async def pause(
        self, workflow_id: str, stop_running: bool = False, timeout_s: float | None = None
    ) -> tuple[WorkflowStatus, str | None]:
        """Pause a workflow; wait for its running attempts; save a checkpoint.

        ``stop_running`` gives them up instead (re-queued, not charged); ``timeout_s``
        bounds the wait. Returns the status and the checkpoint's key (None without
        storage). Raises `KeyError` (unknown) or `ValueError` (finished workflow).
        """
        self._handle(WorkflowPauseRequested(workflow_id=workflow_id, stop_running=stop_running))
        self._durability.workflow_changed(workflow_id)
        deadline_s = None if timeout_s is None else self._clock.now_s() + timeout_s
        while True:
            status = self._scheduler.workflow_status(workflow_id)
            if status.count(TaskState.RUNNING) == 0 or status.state is not WorkflowState.PAUSED:
                break
            if deadline_s is not None and self._clock.now_s() >= deadline_s:
                break
            await asyncio.sleep(0.02)
        key = await self._save_now()
        return self._scheduler.workflow_status(workflow_id), key

    async def resume(self, workflow_id: str) -> WorkflowStatus:
        """Let a paused workflow go on. Raises `KeyError` for an unknown id."""
        self._ensure_running()
        self._handle(WorkflowResumeRequested(workflow_id=workflow_id))
        self._durability.workflow_changed(workflow_id)
        await self._save_now()
        return self._scheduler.workflow_status(workflow_id)

    async def release(self, workflow_id: str) -> None:
        """Forget a finished workflow and free its results.

        Raises:
            KeyError: unknown workflow.
            ValueError: the workflow is still running.
        """
        self._handle(WorkflowReleaseRequested(workflow_id=workflow_id))

    async def requeue_dead_letters(
        self, workflow_id: str, task_ids: tuple[str, ...] | None = None
    ) -> None:
        """Run dead letters of a workflow again (all when ``task_ids`` is None).

        Raises:
            KeyError: unknown workflow, or a named task is not a dead letter (nothing
                re-queued then).
        """
        self._ensure_running()
        self._handle(DeadLettersRequeueRequested(workflow_id=workflow_id, task_ids=task_ids))
        self._durability.workflow_changed(workflow_id)
        await self._save_now()

    async def purge_dead_letters(
        self, workflow_id: str | None = None, task_ids: tuple[str, ...] | None = None
    ) -> None:
        """Drop dead letters: of a workflow (the named ones, or all), or every one.

        Raises:
            KeyError: a named task is not a dead letter (nothing purged then).
        """
        self._handle(DeadLettersPurgeRequested(workflow_id=workflow_id, task_ids=task_ids))
        for changed in [workflow_id] if workflow_id is not None else self._scheduler.workflow_ids():
            self._durability.workflow_changed(changed)
        await self._save_now()

    async def shutdown(self) -> None:
        """Save a last checkpoint; stop every agent and the heartbeat; flush traces."""
        await self._save_now()
        self._writer.shutdown(wait=True)
        self._agents.stop_all()
        for task in (self._loop_task, self._trigger_task):
            if task is not None:
                task.cancel()
        self._tracer.shutdown()
        self._profiler.stop()

    # -- the loop ------------------------------------------------------------------------

    def _ensure_running(self) -> None:
        if self._loop_task is not None and not self._loop_task.done():
            return
        self._profiler.start()  # on the loop's thread
        self._wake = asyncio.Event()
        self._loop_task = asyncio.get_running_loop().create_task(self._run())
        self._agents.ensure_heartbeat()
        self._start_triggers()

    def _wake_loop(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            wakeup_s = self._scheduler.next_wakeup_s()
            timeout_s = min(CLUSTER_REFRESH_S, self._settings.heartbeat.resync_interval_s)
            if wakeup_s is not None:
                timeout_s = min(timeout_s, max(wakeup_s - self._clock.now_s(), 0.0))
            if self._scheduler.admitting():
                await asyncio.sleep(0)  # what else is due runs between two slices
            elif not self._dispatcher.has_completed:
                await wait_for_wake(self._wake, timeout_s)
            self._wake.clear()
            try:
                self._collect_outcomes()
                self._admit_slices()
                self._metrics.tick(self._scheduler.statistics)
                if wakeup_s is not None and self._clock.now_s() >= wakeup_s:
                    self._handle(Tick())
                self._observe_cluster(force=False)
                self._resync_heartbeat()
                if self._durability.due():
                    if self._settings.checkpoint.wait_for_saves:
                        await self._save_now()
                    else:
                        self._save_soon()
            except Exception:
                self._log.exception("supervisor.loop_error")

    def _collect_outcomes(self) -> None:
        outcomes, lost, candidates = self._dispatcher.collect()
        if outcomes:
            # Results are fenced: only those the scheduler accepts are kept (`_publish_tasks`).
            self._candidates = candidates
            try:
                self._handle(AttemptsFinished(outcomes=outcomes))
            finally:
                self._candidates = {}
            self._cache.store_new(self._results.fetch)
        for agent_id, (cause, reason) in lost.items():
            self._handle(AgentLost(agent_id=agent_id, cause=cause, reason=reason))

    def _admit_slices(self) -> None:
        """Admit the next slice of each workflow being admitted (one per loop turn)."""
        for workflow_id in self._scheduler.admitting():
            self._handle(AdmissionContinued(workflow_id=workflow_id))

    def _handle(self, event: Event) -> None:
        self._execute(self._scheduler.handle(event))

    # -- commands ------------------------------------------------------------------------

    def _execute(self, commands: list[Command]) -> None:
        self._metrics.commands(commands)
        self._events.commands(commands)
        for command in commands:
            match command:
                case DispatchBatch():
                    self._dispatcher.send(command, self._agents[command.agent_id])
                case StartAgent() | StopAgent() | StopAttempts():
                    self._agents.execute(command)
                case PublishTaskEvents():
                    self._publish_tasks(command)
                    self._durability.tasks_changed(command.events)
                    self._cache.tasks_changed(command.events)
                case PublishWorkflowEvent():
                    self._publish_workflow(command)
                    self._durability.workflow_changed(command.workflow_id)
                case PublishPoolEvent():
                    self._log.warning(
                        f"pool.{command.event}",
                        pool=command.pool,
                        state=command.state,
                        detail=command.message,
                    )
                case ReleaseWorkflow():
                    self._release_workflow(command)
                case SubmitScheduledRun():
                    self._durability.schedules_changed()
                    problems = self._submit(command.workflow)
                    self._save_soon()  # the run and the schedule's state, durable soon
                    if problems:
                        self._log.error(
                            "schedule.run_refused",
                            schedule=command.schedule,
                            problems=[str(p) for p in problems],
                        )
                case PublishScheduleEvent():
                    self._durability.schedules_changed()
                    self._log.info(
                        f"schedule.{command.event}",
                        schedule=command.schedule,
                        detail=command.message,
                    )
                case _:
                    # A command the executor does not know is a type error (mypy), and
                    # an error here rather than a command silently dropped.
                    assert_never(command)

    def _release_workflow(self, command: ReleaseWorkflow) -> None:
        self._durability.released(command.workflow_id)
        self._cache.released(command.workflow_id)
        self._results.release(command.workflow_id)
        self._quiet_workflows.discard(command.workflow_id)
        self._finished.pop(command.workflow_id, None)
        self._log.debug("workflow.released", workflow_id=command.workflow_id)

    def _publish_tasks(self, command: PublishTaskEvents) -> None:
        self._results.accept(command.events, self._candidates)
        log_task_events(self._log, command.events, self._quiet_workflows)

    def _publish_workflow(self, command: PublishWorkflowEvent) -> None:
        log_workflow_event(self._log, command)
        event = self._finished.get(command.workflow_id)
        if command.state is WorkflowState.PAUSED:
            return
        if not command.state.is_terminal:  # resumed, or finished and running again
            if event is not None:
                event.clear()
            return
        self._tracer.workflow_finished(command.workflow_id, command.state)
        if event is not None:
            event.set()


def _about_resources(problems: tuple[Problem, ...]) -> bool:
    """Whether any of ``problems`` is a task's resources that no known node offers."""
    return any(problem.where.endswith(".resources") for problem in problems)
