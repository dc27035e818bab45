"""`SupervisorClient`: the driver's one door to the supervisor actor, typed, one error path.

Every call from a driver to the supervisor goes through `SupervisorClient._call`, so every
call fails the same way:

- a ``KeyError``, ``ValueError`` or ``PermissionError`` (`AccessDeniedError`) raised by
  the supervisor (unknown workflow or task, a
  workflow still running...) is raised again as itself, not wrapped in Ray's error;
- a supervisor that is gone (killed, crashed, its node lost) raises
  `SupervisorUnavailableError`, whichever call noticed it; unless the client was given a
  way to ``respawn`` it (a supervisor with durable state comes back from its checkpoint):
  then the call is made once more, to the new one;
- anything else is raised as Ray raised it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import ray
from ray.exceptions import OwnerDiedError, RayActorError, RayTaskError

from orchestrator.core.dead_letters import DeadLetter
from orchestrator.core.errors import Problem
from orchestrator.core.packed import PackedWorkflow, TaskRow
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import TaskSpec
from orchestrator.core.status import (
    RunSummary,
    ScheduleInfo,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)
from orchestrator.runtime.results import MAX_PAGE_RESULTS, ResultPage
from orchestrator.runtime.submit_streams import StoredRows
from orchestrator.settings import Settings

#: How long a client that can respawn the supervisor keeps asking before it gives up.
RESPAWN_PATIENCE_S = 120.0


class SupervisorUnavailableError(RuntimeError):
    """The supervisor actor is gone: it was killed, crashed, or its node was lost."""


class SupervisorClient:
    """Typed calls to a supervisor actor (see the module docstring for errors).

    Args:
        handle: The supervisor's actor handle (from `spawn_supervisor`).
        respawn: Returns the handle of a supervisor that replaces a dead one (found or
            created); None: a dead supervisor stays dead.
        principal: Who calls: every call that changes something carries it, and the
            supervisor's door checks its roles (`AccessDeniedError` when denied).
    """

    def __init__(
        self, handle: Any, respawn: Callable[[], Any] | None = None, principal: str = "local"
    ) -> None:
        self._handle = handle
        self._respawn = respawn
        self.principal = principal

    @property
    def handle(self) -> Any:
        """The supervisor's actor handle, for tests and tools that need Ray directly."""
        return self._handle

    def _call(
        self, method: str, *args: Any, timeout_s: float | None = None, respawn: bool = True
    ) -> Any:
        try:
            return self._call_once(method, *args, timeout_s=timeout_s)
        except SupervisorUnavailableError:
            if self._respawn is None or not respawn:
                raise
        # Gone, or restarting (Ray restarts a crashed one, which reloads its checkpoint):
        # ask again, a new one if need be, for a while.
        deadline = time.monotonic() + RESPAWN_PATIENCE_S
        pause_s = 0.1
        while True:
            replacement = self._respawn()
            # The same actor (Ray restarts it): keep the creator's handle, which owns it;
            # dropping it for a looked-up one would let Ray end the actor.
            if replacement != self._handle:
                self._handle = replacement
            try:
                return self._call_once(method, *args, timeout_s=timeout_s)
            except SupervisorUnavailableError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 2.0)

    def _call_once(self, method: str, *args: Any, timeout_s: float | None) -> Any:
        return self._answer(getattr(self._handle, method).remote(*args), timeout_s)

    def _answer(self, call: Any, timeout_s: float | None = None) -> Any:
        """Wait for a call's answer, with the errors of the module docstring."""
        try:
            return ray.get(call, timeout=timeout_s)
        except RayTaskError as exc:
            if isinstance(exc.cause, KeyError | ValueError | PermissionError):
                raise exc.cause from None
            raise
        except RayActorError as exc:
            raise SupervisorUnavailableError(
                f"the supervisor is unavailable ({type(exc).__name__}): {exc}"
            ) from exc

    def submit(self, workflow: PackedWorkflow) -> tuple[Problem, ...]:
        """Start a workflow; return the problems that refused it (none when accepted)."""
        problems: tuple[Problem, ...] = self._call("submit", workflow, self.principal)
        return problems

    def submit_chunks(
        self,
        header: PackedWorkflow,
        chunks: Callable[[], Iterable[tuple[TaskRow, ...]]],
    ) -> tuple[Problem, ...]:
        """Start a workflow sent in chunks; return the problems that refused it.

        ``header`` is the workflow without rows (`PackedWorkflow.header`); ``chunks()``
        yields its rows a tuple at a time, each packed only when reached, sent, then
        dropped, so the driver never holds the whole workflow packed. The supervisor
        assembles the chunks and submits the whole (`orchestrator.runtime.submit_streams`).
        Anything going wrong part way (a row Ray cannot pickle, a chunk the supervisor
        refuses, an interrupt) aborts the submission there: nothing of it is kept, and the
        error is raised. A supervisor lost part way, when it can be respawned, gets the
        whole submission again from the start (``chunks`` is called once more).
        """
        for attempt in range(2):
            token: str = self._call("submit_begin", header, self.principal)
            try:
                for index, rows in enumerate(chunks()):
                    # Through the object store: the supervisor fetches it off its loop.
                    stored = StoredRows(ray.put(rows))
                    self._call("submit_rows", token, index, stored, self.principal, respawn=False)
                    del stored
                problems: tuple[Problem, ...] = self._call(
                    "submit_end", token, self.principal, respawn=False
                )
            except SupervisorUnavailableError:
                if self._respawn is None or attempt > 0:
                    raise
                continue  # a new supervisor staged nothing: send it all again
            except BaseException:
                with contextlib.suppress(Exception):
                    self._call("submit_abort", token, self.principal, respawn=False)
                raise
            return problems
        raise AssertionError("unreachable")  # pragma: no cover

    def submit_many(self, workflows: list[PackedWorkflow]) -> list[tuple[Problem, ...]]:
        """Start several workflows; return each one's problems (none: it was accepted).

        Every call is sent before any answer is awaited, so many small workflows cost one
        wait, not one round trip each; the supervisor handles them in the order sent.
        """
        calls = [self._handle.submit.remote(workflow, self.principal) for workflow in workflows]
        answers: list[tuple[Problem, ...]] = []
        for workflow, call in zip(workflows, calls, strict=True):
            try:
                answers.append(self._answer(call))
            except SupervisorUnavailableError:
                if self._respawn is None:
                    raise
                answers.append(self.submit(workflow))  # asks the replacement, as submit does
        return answers

    def status(self, workflow_id: str) -> WorkflowStatus:
        """Return a workflow's counts per state. Raises `KeyError` for an unknown id."""
        status: WorkflowStatus = self._call("status", workflow_id)
        return status

    def wait(self, workflow_id: str, timeout_s: float | None) -> WorkflowStatus:
        """Wait in the supervisor until the workflow ends or ``timeout_s`` passes."""
        status: WorkflowStatus = self._call("wait", workflow_id, timeout_s)
        return status

    def tasks(self, workflow_id: str) -> list[TaskInfo]:
        """Return every task's state, attempts, timings and errors."""
        infos: list[TaskInfo] = self._call("tasks", workflow_id)
        return infos

    def task(self, workflow_id: str, task_id: str) -> TaskInfo:
        """Return one task's state, attempts, timings and errors."""
        info: TaskInfo = self._call("task", workflow_id, task_id)
        return info

    def result(self, workflow_id: str, task_id: str) -> tuple[TaskInfo, list[Any]]:
        """Return a task's info and ``[its result]`` once it succeeded, else ``[]``.

        One call: the supervisor sends a small result itself; a large one is fetched from
        Ray's object store here. Its owner is the supervisor, so a lost supervisor raises
        `SupervisorUnavailableError` here too.
        """
        page: ResultPage | None
        info, page = self._call("result", workflow_id, task_id)
        if page is None:
            return info, []
        if task_id in page.values:
            return info, [page.values[task_id]]
        return info, [self._read_refs(workflow_id, page.refs)[task_id]]

    def results(self, workflow_id: str) -> dict[str, Any]:
        """Return the result of every task that succeeded, in the order they were stored.

        The supervisor reads the small results itself and sends them in pages (one call
        for up to `MAX_PAGE_RESULTS` of them); the large ones come as refs, read here in
        one ``ray.get`` per page.

        Raises:
            KeyError: the workflow is unknown, or released (also between two pages).
            SupervisorUnavailableError: the supervisor (which owns the results) is gone.
        """
        results: dict[str, Any] = {}
        page: ResultPage = self._call("result_page", workflow_id, None)
        while True:
            read = self._read_refs(workflow_id, page.refs)
            for task_id in page.task_ids:
                results[task_id] = page.values[task_id] if task_id in page.values else read[task_id]
            if not page.rest:
                return results
            # Ask for the rest a page at a time (the supervisor says what did not fit).
            asked, later = page.rest[:MAX_PAGE_RESULTS], page.rest[MAX_PAGE_RESULTS:]
            page = self._call("result_page", workflow_id, list(asked))
            page = page._replace(rest=(*page.rest, *later))

    @staticmethod
    def _read_refs(workflow_id: str, refs: dict[str, Any]) -> dict[str, Any]:
        if not refs:
            return {}
        try:
            return dict(zip(refs, ray.get(list(refs.values())), strict=True))
        except OwnerDiedError as exc:
            raise SupervisorUnavailableError(
                f"the supervisor holding {workflow_id!r}'s results is gone: {exc}"
            ) from exc

    def outline(self, workflow_id: str) -> list[TaskSpec]:
        """Return a workflow's tasks as bare specs (ids, handlers, dependencies)."""
        outline: list[TaskSpec] = self._call("outline", workflow_id)
        return outline

    def summary(self, workflow_id: str) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up."""
        summary: RunSummary = self._call("summary", workflow_id)
        return summary

    def cancel(self, workflow_id: str, reason: str) -> None:
        """Cancel every unfinished task of a workflow."""
        self._call("cancel", workflow_id, reason, self.principal)

    def edit(
        self,
        workflow_id: str,
        additions: PackedWorkflow,
        edges: tuple[tuple[str, str], ...] = (),
    ) -> tuple[Problem, ...]:
        """Add tasks (and ``edges``: new dependencies, ``(task, upstream)``) to a workflow.

        Returns the problems that refused the edit (none: it was applied).
        """
        problems: tuple[Problem, ...] = self._call(
            "edit", workflow_id, additions, edges, self.principal
        )
        return problems

    def pause(
        self, workflow_id: str, stop_running: bool, timeout_s: float | None
    ) -> tuple[WorkflowStatus, str | None]:
        """Pause a workflow; return its status and the checkpoint saved (None: no storage)."""
        paused: tuple[WorkflowStatus, str | None] = self._call(
            "pause", workflow_id, stop_running, timeout_s, self.principal
        )
        return paused

    def resume(self, workflow_id: str) -> WorkflowStatus:
        """Let a paused workflow go on."""
        status: WorkflowStatus = self._call("resume", workflow_id, self.principal)
        return status

    def settings(self) -> Settings:
        """Return the settings the supervisor runs with."""
        settings: Settings = self._call("settings")
        return settings

    def add_schedule(self, schedule: ScheduleSpec, workflow: PackedWorkflow) -> None:
        """Start a recurring workflow (`WorkflowRejectedError`/`ValueError` if refused)."""
        self._call("add_schedule", schedule, workflow, self.principal)

    def remove_schedule(self, name: str) -> None:
        """Stop a schedule (``KeyError`` if unknown)."""
        self._call("remove_schedule", name, self.principal)

    def schedules(self) -> list[ScheduleInfo]:
        """Return every schedule's state."""
        infos: list[ScheduleInfo] = self._call("schedules")
        return infos

    def release(self, workflow_id: str) -> None:
        """Forget a finished workflow and free its results (``ValueError`` if running)."""
        self._call("release", workflow_id, self.principal)

    def dead_letters(self, workflow_id: str | None = None) -> list[DeadLetter]:
        """Return the tasks that failed for good (of one workflow, or all), oldest first."""
        letters: list[DeadLetter] = self._call("dead_letters", workflow_id)
        return letters

    def requeue_dead_letters(self, workflow_id: str, task_ids: tuple[str, ...] | None) -> None:
        """Run a workflow's dead letters again (``KeyError`` names what is not one)."""
        self._call("requeue_dead_letters", workflow_id, task_ids, self.principal)

    def purge_dead_letters(self, workflow_id: str | None, task_ids: tuple[str, ...] | None) -> None:
        """Drop dead letters (``KeyError`` names what is not one)."""
        self._call("purge_dead_letters", workflow_id, task_ids, self.principal)

    def statistics(self) -> SchedulerStatistics:
        """Return the scheduler's counters: workflows, tasks per state, pools, agents."""
        stats: SchedulerStatistics = self._call("statistics")
        return stats

    def workflows(self) -> list[WorkflowStatus]:
        """Return the status of every workflow the supervisor knows, oldest first."""
        statuses: list[WorkflowStatus] = self._call("workflows")
        return statuses

    def agents(self) -> dict[str, str]:
        """Return live agent ids and their pools."""
        agents: dict[str, str] = self._call("agents")
        return agents

    def agent_health(self) -> dict[str, str]:
        """Return each watched agent's health (``healthy``, ``slow``, ``hung``...)."""
        health: dict[str, str] = self._call("agent_health")
        return health

    def process_stats(self) -> dict[str, int]:
        """Return the supervisor process's memory (now and peak) and current counts."""
        stats: dict[str, int] = self._call("process_stats")
        return stats

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the supervisor to stop its agents and heartbeat, then end its actor.

        The actor is killed even when the polite shutdown fails or times out.
        """
        try:
            self._call("shutdown", timeout_s=timeout_s, respawn=False)
        finally:
            ray.kill(self._handle, no_restart=True)
