"""What a driver script or a notebook uses: `Orchestrator` and `WorkflowRun`.

::

    with Orchestrator() as orch:                 # embedded local Ray, stopped at the end
        run = orch.submit(workflow)
        run.wait(progress=True)
        print(run.result("report"))
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any

import ray
from opentelemetry.trace import TracerProvider

from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.states import TaskState
from orchestrator.core.status import RunSummary, SchedulerStatistics, TaskInfo, WorkflowStatus
from orchestrator.runtime.cluster import connect
from orchestrator.runtime.spawn import spawn_supervisor
from orchestrator.settings import Settings
from orchestrator.workflow import Workflow, check_structure


def _unwrap(ref: Any) -> Any:
    """``ray.get`` that re-raises a supervisor's KeyError/ValueError as itself."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, KeyError | ValueError):
            raise cause from None
        raise


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


class WorkflowRun:
    """A submitted workflow: follow it, wait for it, read its results."""

    def __init__(self, supervisor: Any, workflow_id: str) -> None:
        self._supervisor = supervisor
        self.id = workflow_id

    def __repr__(self) -> str:
        return f"WorkflowRun(id={self.id!r})"

    def status(self) -> WorkflowStatus:
        """Return the counts of tasks per state and the workflow's state."""
        status: WorkflowStatus = _unwrap(self._supervisor.status.remote(self.id))
        return status

    def wait(
        self, timeout_s: float | None = None, *, progress: bool = False, poll_s: float = 0.5
    ) -> WorkflowStatus:
        """Block until the workflow ends (or ``timeout_s`` passes); return its status.

        Args:
            timeout_s: Give up waiting after this long (the workflow keeps running).
            progress: Show a live progress bar (terminal or notebook).
            poll_s: How often to refresh the progress bar.
        """
        if progress:
            from orchestrator.progress import follow

            return follow(self, timeout_s=timeout_s, poll_s=poll_s)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            chunk = poll_s * 10
            if deadline is not None:
                chunk = min(chunk, max(deadline - time.monotonic(), 0.0))
            status: WorkflowStatus = _unwrap(self._supervisor.wait.remote(self.id, chunk))
            if status.state.is_terminal or (deadline is not None and time.monotonic() >= deadline):
                return status

    def tasks(self) -> list[TaskInfo]:
        """Return every task's state, attempts, timings and last error."""
        infos: list[TaskInfo] = _unwrap(self._supervisor.tasks.remote(self.id))
        return infos

    def task(self, task_id: str) -> TaskInfo:
        """Return one task's state, attempts, timings and last error."""
        info: TaskInfo = _unwrap(self._supervisor.task.remote(self.id, task_id))
        return info

    def result(self, task_id: str, *, timeout_s: float | None = None) -> Any:
        """Wait for a task and return its result (fetched from Ray's object store).

        Raises:
            TaskFailedError: the task failed, was skipped or was cancelled.
            TimeoutError: the task did not finish within ``timeout_s``.
            KeyError: no such task.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay_s = 0.01
        while True:
            info, refs = _unwrap(self._supervisor.result_ref.remote(self.id, task_id))
            if info.state is TaskState.SUCCEEDED and refs:
                return ray.get(refs[0])
            if info.state.is_terminal:
                raise TaskFailedError(self.id, info)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id!r} not finished after {timeout_s}s")
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.5)

    def results(self) -> dict[str, Any]:
        """Return the results of every task that succeeded (all fetched: mind their size)."""
        return {
            info.task_id: self.result(info.task_id)
            for info in self.tasks()
            if info.state is TaskState.SUCCEEDED
        }

    def summary(self) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up."""
        summary: RunSummary = _unwrap(self._supervisor.summary.remote(self.id))
        return summary

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Cancel every task that has not finished."""
        _unwrap(self._supervisor.cancel.remote(self.id, reason))

    def release(self) -> None:
        """Forget this finished workflow and free its results in the object store.

        Finished workflows are also released automatically, oldest first, beyond
        ``scheduler.max_finished_workflows``.

        Raises:
            ValueError: the workflow is still running (cancel it first).
            KeyError: it was released already.
        """
        _unwrap(self._supervisor.release.remote(self.id))


class Orchestrator:
    """Entry point: connects to Ray (embedded by default) and talks to the supervisor.

    Args:
        address: ``"local"`` (default from settings) starts an embedded Ray that
            `shutdown` stops; ``"auto"`` or ``"ray://host:port"`` joins a cluster. If this
            process is already connected to Ray, that connection is used and left open.
        settings: Settings; by default read from files and the environment.
        tracer_provider_factory: Builds the OpenTelemetry tracer provider inside the
            supervisor's process (it is pickled there); by default from settings.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        settings: Settings | None = None,
        tracer_provider_factory: Callable[[], TracerProvider] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._address = address
        self._tracer_provider_factory = tracer_provider_factory
        self._owns_ray = False
        self._supervisor: Any = None

    def start(self) -> Orchestrator:
        """Connect to (or start) Ray and create the supervisor. Idempotent."""
        if self._supervisor is None:
            self._owns_ray = connect(self.settings.ray, self._address)
            self._supervisor = spawn_supervisor(self.settings, self._tracer_provider_factory)
        return self

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
    def supervisor(self) -> Any:
        """The supervisor actor's handle (starts the orchestrator if needed)."""
        return self.start()._supervisor

    def submit(
        self, workflow: Workflow | WorkflowSpec, *, workflow_id: str | None = None
    ) -> WorkflowRun:
        """Validate a workflow and start it; return its run handle.

        Raises:
            WorkflowRejectedError: every problem found (fields, graph, agents, resources no
                node has); nothing of the workflow is kept.
        """
        spec = workflow.to_spec() if isinstance(workflow, Workflow) else workflow
        new_id = workflow_id or spec.id or f"{spec.name}-{uuid.uuid4().hex[:8]}"
        spec = spec.with_id(new_id)
        packed = PackedWorkflow.pack(spec)
        check_structure(packed)
        problems = ray.get(self.supervisor.submit.remote(packed))
        if problems:
            raise WorkflowRejectedError(new_id, problems)
        return WorkflowRun(self._supervisor, new_id)

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
        """Return the run handle of a workflow submitted earlier (by any driver)."""
        _unwrap(self.supervisor.status.remote(workflow_id))
        return WorkflowRun(self._supervisor, workflow_id)

    def statistics(self) -> SchedulerStatistics:
        """Return the scheduler's counters: workflows, tasks per state, pools and agents."""
        stats: SchedulerStatistics = ray.get(self.supervisor.statistics.remote())
        return stats

    def workflows(self) -> list[WorkflowStatus]:
        """Return the status of every workflow the supervisor knows."""
        statuses: list[WorkflowStatus] = ray.get(self.supervisor.workflows.remote())
        return statuses

    def shutdown(self) -> None:
        """Stop agents, the heartbeat and the supervisor; stop Ray if this object started it."""
        if self._supervisor is not None:
            if not self.settings.ray.detached:
                try:
                    ray.get(self._supervisor.shutdown.remote(), timeout=30)
                finally:
                    ray.kill(self._supervisor, no_restart=True)
            self._supervisor = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
