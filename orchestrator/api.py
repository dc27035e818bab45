"""What a driver script or a notebook uses: `Orchestrator` and `WorkflowRun`.

::

    with Orchestrator() as orch:                 # embedded local Ray, stopped at the end
        run = orch.submit(workflow)
        run.wait(progress=True)
        print(run.result("report"))

Every call to Ray goes through `orchestrator.runtime` (the supervisor's calls through
`SupervisorClient`), so every call fails the same way: ``KeyError``/``ValueError`` from
the supervisor as themselves, `SupervisorUnavailableError` when it is gone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from types import TracebackType
from typing import Any

from opentelemetry.trace import TracerProvider

from orchestrator.api_editing import RunEditing
from orchestrator.api_events import EventCalls, run_events
from orchestrator.api_schedules import SchedulingCalls
from orchestrator.api_settings import report_mismatch
from orchestrator.core.dead_letters import DeadLetter
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow, row_chunks
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import TaskState
from orchestrator.core.status import RunSummary, SchedulerStatistics, TaskInfo, WorkflowStatus
from orchestrator.principal import resolve_principal
from orchestrator.progress import follow
from orchestrator.runtime.client import SupervisorClient, SupervisorUnavailableError
from orchestrator.runtime.cluster import connect, disconnect
from orchestrator.runtime.spawn import find_supervisor, spawn_supervisor
from orchestrator.settings import Settings
from orchestrator.workflow import Workflow, check_structure

__all__ = ["Orchestrator", "SupervisorUnavailableError", "TaskFailedError", "WorkflowRun"]

#: How often the progress bar is redrawn by default (seconds).
DEFAULT_REFRESH_S = 0.5
#: Longest single wait inside the supervisor by default (seconds): a plain `wait` asks
#: again after this, so no call to the supervisor stays open without bound.
DEFAULT_WAIT_CHUNK_S = 5.0
#: A workflow of over `SUBMIT_STREAM_TASKS` tasks goes in chunks of `SUBMIT_CHUNK_TASKS`,
#: each packed just before it is sent (`SupervisorClient.submit_chunks`) and put in Ray's
#: object store, whence the supervisor fetches it in a worker thread: no packed copy of it
#: all in the driver, and no unpickling on the supervisor's loop (~0.3 s per 50,000 tasks).
SUBMIT_CHUNK_TASKS = 50_000
SUBMIT_STREAM_TASKS = 2_000


class TaskFailedError(RuntimeError):
    """A task's result was asked for, but the task failed, was skipped or cancelled."""

    def __init__(self, workflow_id: str, info: TaskInfo) -> None:
        self.workflow_id = workflow_id
        self.info = info
        detail = (
            f"{info.error_type}: {info.error_message}" if info.error_type else info.error_message
        )
        super().__init__(
            f"task {info.task_id!r} of workflow {workflow_id!r} {info.state.value}"
            f" after {info.attempts} attempt(s): {detail}"
        )


class WorkflowRun(RunEditing):
    """A submitted workflow: follow it, wait for it, read its results.

    Args:
        client: The supervisor that runs it.
        workflow_id: Its id.
        spec: Its workflow, when this driver has it (`Orchestrator.submit` passes it):
            then a notebook shows the run as its graph coloured by task state.
    """

    def __init__(
        self, client: SupervisorClient, workflow_id: str, spec: WorkflowSpec | None = None
    ) -> None:
        self._client = client
        self.id = workflow_id
        self._spec = spec

    def __repr__(self) -> str:
        return f"WorkflowRun(id={self.id!r})"

    def _repr_html_(self) -> str | None:
        """Show the run in a notebook: its graph coloured by state, then its timeline.

        A run attached by id shows its timeline only (the graph stays with the driver
        that submitted it); a released run, or one whose supervisor is gone, shows its
        plain ``repr``.
        """
        from orchestrator.pictures import run_html

        try:
            infos = self.tasks()
        except (KeyError, SupervisorUnavailableError):
            return None
        return run_html(self._spec, infos, title=self.id)

    def status(self) -> WorkflowStatus:
        """Return the counts of tasks per state and the workflow's state."""
        return self._client.status(self.id)

    def wait(
        self,
        timeout_s: float | None = None,
        *,
        progress: bool = False,
        refresh_s: float = DEFAULT_REFRESH_S,
        wait_chunk_s: float = DEFAULT_WAIT_CHUNK_S,
    ) -> WorkflowStatus:
        """Block until the workflow ends (or ``timeout_s`` passes); return its status.

        Args:
            timeout_s: Give up waiting after this long (the workflow keeps running).
            progress: Show a live progress bar (terminal or notebook).
            refresh_s: How often the progress bar is redrawn (with ``progress``).
            wait_chunk_s: Without ``progress``: the longest single wait inside the
                supervisor, after which the driver asks again. (With ``progress``, each
                wait lasts at most ``refresh_s``.)
        """
        if progress:
            events = partial(run_events, self._client, self.id)
            return follow(self, timeout_s=timeout_s, refresh_s=refresh_s, events=events)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            chunk_s = wait_chunk_s
            if deadline is not None:
                chunk_s = min(chunk_s, max(deadline - time.monotonic(), 0.0))
            status = self._client.wait(self.id, chunk_s)
            if status.state.is_terminal or (deadline is not None and time.monotonic() >= deadline):
                return status

    def tasks(self) -> list[TaskInfo]:
        """Return every task's state, attempts, timings and last error."""
        return self._client.tasks(self.id)

    def task(self, task_id: str) -> TaskInfo:
        """Return one task's state, attempts, timings and last error."""
        return self._client.task(self.id, task_id)

    def result(self, task_id: str, *, timeout_s: float | None = None) -> Any:
        """Wait for a task and return its result (fetched from Ray's object store).

        Raises:
            TaskFailedError: the task failed, was skipped or was cancelled.
            TimeoutError: the task did not finish within ``timeout_s``.
            KeyError: no such task.
            SupervisorUnavailableError: the supervisor (which holds the result) is gone.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay_s = 0.01
        while True:
            info, values = self._client.result(self.id, task_id)
            if info.state is TaskState.SUCCEEDED and values:
                return values[0]
            if info.state.is_terminal:
                raise TaskFailedError(self.id, info)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id!r} not finished after {timeout_s}s")
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.5)

    def results(self) -> dict[str, Any]:
        """Return the results of every task that succeeded (all fetched: mind their size).

        One call to the supervisor per page of up to 50,000 results: it owns them, reads
        the small ones itself and sends their values; a result over 1 MiB comes as its
        ref, read here from the object store. Tasks in the order they succeeded; on a
        workflow still running, the results stored so far.

        Raises:
            KeyError: the workflow is unknown or released.
            SupervisorUnavailableError: the supervisor (which holds the results) is gone.
        """
        return self._client.results(self.id)

    def summary(self) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up."""
        return self._client.summary(self.id)

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Cancel every task that has not finished."""
        self._client.cancel(self.id, reason)

    def dead_letters(self) -> list[DeadLetter]:
        """Return this workflow's tasks that failed for good (see `Orchestrator.dead_letters`)."""
        return self._client.dead_letters(self.id)

    def requeue(self, task_ids: Iterable[str] | None = None) -> None:
        """Run this workflow's dead letters again (all when ``task_ids`` is None)."""
        ids = tuple(task_ids) if task_ids is not None else None
        self._client.requeue_dead_letters(self.id, ids)

    def add_tasks(self, workflow: Workflow | WorkflowSpec) -> list[str]:
        """Add the tasks of ``workflow`` (a fragment) to this running workflow.

        They may depend on this workflow's tasks by id (``depends_on=["fetch"]``, or
        ``OutputOf(output_of="fetch")`` in arguments). Everything is checked first.

        Returns:
            The ids of the tasks added.

        Raises:
            WorkflowRejectedError: every problem of the edit (duplicate ids, unknown
                dependencies, cycles, agents, resources, a finished workflow); nothing
                changed.
        """
        spec = workflow.to_spec(whole=False) if isinstance(workflow, Workflow) else workflow
        packed = PackedWorkflow.pack(spec.model_copy(update={"id": None}))
        problems = self._client.edit(self.id, packed)
        if problems:
            raise WorkflowRejectedError(self.id, problems)
        return [row.id for row in packed.rows]

    def pause(self, *, stop_running: bool = False, timeout_s: float | None = None) -> str | None:
        """Pause the workflow: nothing of it starts until `resume`; return the checkpoint.

        Its running attempts finish and count (waited for, up to ``timeout_s``), unless
        ``stop_running``: then they are given up (their outcome ignored) and run again on
        resume, not charged. A checkpoint is saved once they are done.

        Returns:
            The key of the checkpoint saved, or None when no checkpoint storage is set.

        Raises:
            ValueError: the workflow has finished.
        """
        _, key = self._client.pause(self.id, stop_running, timeout_s)
        return key

    def resume(self) -> WorkflowStatus:
        """Let a paused workflow go on (nothing happens if it is not paused)."""
        return self._client.resume(self.id)

    def release(self) -> None:
        """Forget this finished workflow and free its results in the object store.

        Finished workflows are also released automatically, oldest first, beyond
        ``scheduler.max_finished_workflows``.

        Raises:
            ValueError: the workflow is still running (cancel it first).
            KeyError: it was released already.
        """
        self._client.release(self.id)


def _checked(workflow: Workflow | WorkflowSpec, workflow_id: str | None = None) -> WorkflowSpec:
    """Return the workflow's spec, checked once, with its id (given, its own or new).

    Raises:
        WorkflowRejectedError: the driver's own structure checks refuse it.
    """
    if isinstance(workflow, Workflow):
        spec = workflow.to_spec()  # checks the structure
    else:
        spec = workflow
        check_structure(spec)
    return spec.with_id(workflow_id or spec.id or f"{spec.name}-{uuid.uuid4().hex[:8]}")


class Orchestrator(EventCalls, SchedulingCalls):
    """Entry point: connects to Ray (embedded by default) and talks to the supervisor.

    Args:
        address: ``"local"`` (default from settings) starts an embedded Ray that
            `shutdown` stops; ``"auto"`` or ``"ray://host:port"`` joins a cluster. If this
            process is already connected to Ray, that connection is used and left open.
        settings: Settings; by default read from files and the environment.
        tracer_provider_factory: Builds the OpenTelemetry tracer provider inside the
            supervisor's process (it is pickled there); by default from settings.
        join_only: Join the supervisor already running in the namespace and never start
            one (operator tools: ``orchestrator dlq`` and the like); `start` raises
            `SupervisorUnavailableError` when there is none.
        principal: Who this driver acts as (see `orchestrator.principal`).

    Every method that talks to the supervisor raises `SupervisorUnavailableError` when
    it is gone.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        settings: Settings | None = None,
        tracer_provider_factory: Callable[[], TracerProvider] | None = None,
        join_only: bool = False,
        principal: str | None = None,
    ) -> None:
        self.settings = (settings or Settings()).for_driver()
        self.principal = resolve_principal(self.settings, principal)
        self._address = address
        self._tracer_provider_factory = tracer_provider_factory
        self._join_only = join_only
        self._owns_ray = False
        self._owns_supervisor = False
        self._client: SupervisorClient | None = None
        #: Settings in which the joined supervisor differs from this driver's (see `start`).
        self.settings_mismatch: dict[str, tuple[Any, Any]] = {}

    def start(self) -> Orchestrator:
        """Connect to (or start) Ray and create the supervisor, or find it. Idempotent.

        The supervisor is named (``settings.ray.supervisor_name`` in
        ``settings.ray.namespace``): a driver whose namespace already has one joins it.
        """
        if self._client is None:
            self._owns_ray = connect(self.settings.ray, self._address)
            if self._join_only:
                handle = find_supervisor(self.settings)
                if handle is None:
                    self.shutdown()
                    ray_settings = self.settings.ray
                    raise SupervisorUnavailableError(
                        f"no orchestrator is running here: no supervisor "
                        f"{ray_settings.supervisor_name!r} in namespace "
                        f"{ray_settings.namespace!r} (start one with detached=true, or "
                        "give --address of the cluster that runs it)"
                    )
                self._owns_supervisor = False
            else:
                handle, self._owns_supervisor = spawn_supervisor(
                    self.settings, self._tracer_provider_factory
                )
            # A supervisor with durable state comes back from its checkpoint when it dies.
            respawn = self._respawn if self.settings.checkpoint.storage else None
            self._client = SupervisorClient(handle, respawn, self.principal)
            if not self._owns_supervisor and not self._join_only:  # tools only steer it
                self.settings_mismatch = report_mismatch(self.settings, self._client.settings())
        return self

    def _respawn(self) -> Any:
        """Return the supervisor that replaces a dead one: restarted by Ray, or created."""
        handle, created = spawn_supervisor(self.settings, self._tracer_provider_factory)
        self._owns_supervisor = self._owns_supervisor or created
        return handle

    def __enter__(self) -> Orchestrator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    @property
    def client(self) -> SupervisorClient:
        """The typed client of the supervisor (starts the orchestrator if needed)."""
        self.start()
        assert self._client is not None
        return self._client

    @property
    def supervisor(self) -> Any:
        """The supervisor actor's raw handle, for tests and tools that need Ray directly."""
        return self.client.handle

    def submit(
        self, workflow: Workflow | WorkflowSpec, *, workflow_id: str | None = None
    ) -> WorkflowRun:
        """Validate a workflow and start it; return its run handle.

        Over `SUBMIT_STREAM_TASKS` tasks it goes in chunks (`SUBMIT_CHUNK_TASKS` each),
        accepted or refused as one.

        Raises:
            WorkflowRejectedError: every problem found (fields, graph, agents, resources no
                node has); nothing of the workflow is kept.
        """
        spec = _checked(workflow, workflow_id)
        if len(spec.tasks) > min(SUBMIT_STREAM_TASKS, SUBMIT_CHUNK_TASKS):
            problems = self.client.submit_chunks(
                PackedWorkflow.header(spec), lambda: row_chunks(spec, SUBMIT_CHUNK_TASKS)
            )
        else:
            problems = self.client.submit(PackedWorkflow.pack(spec))
        if problems:
            raise WorkflowRejectedError(spec.id or "", problems)
        return WorkflowRun(self.client, spec.id or "", spec)

    def submit_many(self, workflows: Iterable[Workflow | WorkflowSpec]) -> list[WorkflowRun]:
        """Validate several workflows and start them all; return their run handles, in order.

        As `submit` for each, but every submission is sent before any answer is awaited
        (one round trip, not one per workflow). Each gets its spec's id, or a new one.

        Raises:
            WorkflowRejectedError: a workflow this driver's checks refuse (then nothing is
                sent), or the first one the supervisor refuses (then the others it
                accepted run: find them with `workflows` or `attach`).
        """
        checked = [(spec, PackedWorkflow.pack(spec)) for spec in map(_checked, workflows)]
        answers = self.client.submit_many([packed for _, packed in checked])
        for (_, packed), problems in zip(checked, answers, strict=True):
            if problems:
                raise WorkflowRejectedError(packed.id or "", problems)
        return [WorkflowRun(self.client, packed.id or "", spec) for spec, packed in checked]

    def run(
        self,
        workflow: Workflow | WorkflowSpec,
        *,
        timeout_s: float | None = None,
        progress: bool = False,
    ) -> WorkflowRun:
        """Submit a workflow and wait for it to end."""
        run = self.submit(workflow)
        run.wait(timeout_s, progress=progress)
        return run

    def attach(self, workflow_id: str) -> WorkflowRun:
        """Return the run handle of a workflow submitted earlier, by this or any driver.

        The workflow must be known to this orchestrator's supervisor: the same
        ``settings.ray.namespace`` and ``supervisor_name`` as the driver that submitted it
        (and not yet released).

        Raises:
            KeyError: the supervisor knows no workflow with this id.
        """
        self.client.status(workflow_id)
        return WorkflowRun(self.client, workflow_id)

    def statistics(self) -> SchedulerStatistics:
        """Return the scheduler's counters: workflows, tasks per state, pools and agents."""
        return self.client.statistics()

    def dead_letters(self, workflow_id: str | None = None) -> list[DeadLetter]:
        """Return the tasks that failed for good, of one workflow or of all, oldest first.

        Each keeps its arguments, last error and traceback until it is re-queued
        (`requeue_dead_letters`), purged, or its workflow released.
        """
        return self.client.dead_letters(workflow_id)

    def requeue_dead_letters(self, workflow_id: str, task_ids: Iterable[str] | None = None) -> None:
        """Run a workflow's dead letters again (all when ``task_ids`` is None).

        Each gets fresh attempts; the tasks its failure skipped run again too; a
        finished workflow runs again (``wait`` on its run waits for the new end).

        Raises:
            KeyError: unknown workflow, or a named task is not a dead letter; nothing is
                re-queued then.
        """
        ids = tuple(task_ids) if task_ids is not None else None
        self.client.requeue_dead_letters(workflow_id, ids)

    def purge_dead_letters(
        self, workflow_id: str | None = None, task_ids: Iterable[str] | None = None
    ) -> None:
        """Drop dead letters: the named ones of a workflow, all of it, or every one.

        Raises:
            KeyError: a named task is not a dead letter; nothing is purged then.
        """
        ids = tuple(task_ids) if task_ids is not None else None
        self.client.purge_dead_letters(workflow_id, ids)

    def workflows(self) -> list[WorkflowStatus]:
        """Return the status of every workflow the supervisor knows."""
        return self.client.workflows()

    def shutdown(self) -> None:
        """Stop agents, the heartbeat and the supervisor; stop Ray if this object started it.

        Only a supervisor this object created is stopped, and not when
        ``settings.ray.detached``: a driver that joined a running supervisor leaves it
        (and every workflow on it) running.

        Raises:
            SupervisorUnavailableError: the supervisor was already gone; this object has
                forgotten it all the same, and stopped its Ray if it started one.
        """
        client, self._client = self._client, None
        owner = self._owns_supervisor and not self.settings.ray.detached
        try:
            if client is not None and owner:
                client.stop(timeout_s=30)
        finally:
            self._close_bus(stop_actor=client is not None and owner)
            if self._owns_ray:
                disconnect()
                self._owns_ray = False
