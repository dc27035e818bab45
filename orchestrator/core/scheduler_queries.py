"""`SchedulerQueries`: the read-only side of the `Scheduler` (snapshots, entries, lists).

A mixin, so that `scheduler.py` keeps to what changes state. Everything here is a copy or
a snapshot: callers never get a record the scheduler mutates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestrator.core import checkpoint_state, snapshots
from orchestrator.core.admitting import Admissions
from orchestrator.core.clock import Clock
from orchestrator.core.dead_letters import DeadLetter, DeadLetterQueue
from orchestrator.core.dispatch import Dispatcher
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.records import WorkflowRecord
from orchestrator.core.schedule_book import ScheduleBook
from orchestrator.core.specs import Priority, TaskSpec, handler_name
from orchestrator.core.status import (
    RunSummary,
    ScheduleInfo,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)
from orchestrator.core.workflows import WorkflowBook


class SchedulerQueries:
    """Queries of the scheduler's state; mixed into `Scheduler`, which sets the fields."""

    _clock: Clock
    _book: WorkflowBook
    _workflows: dict[str, WorkflowRecord]
    _dead_letters: DeadLetterQueue
    _dispatcher: Dispatcher
    _fleet: AgentFleet
    _schedules: ScheduleBook
    _admissions: Admissions

    def admitting(self) -> tuple[str, ...]:
        """Return the workflows being admitted a slice at a time, oldest first.

        The runtime sends an `AdmissionContinued` for each once it has handled what else
        happened (see `orchestrator.core.admitting`).
        """
        return tuple(self._admissions)

    def workflow_ids(self) -> list[str]:
        """Return the ids of every workflow known, oldest first."""
        return list(self._workflows)

    def workflow_status(self, workflow_id: str) -> WorkflowStatus:
        """Return a snapshot of a workflow. Raises `KeyError` for an unknown id."""
        return snapshots.workflow_status(self._workflows[workflow_id])

    def task_info(self, workflow_id: str, task_id: str) -> TaskInfo:
        """Return a snapshot of one task. Raises `KeyError` for unknown ids."""
        return snapshots.task_info(self._workflows[workflow_id].tasks[task_id])

    def task_infos(self, workflow_id: str) -> list[TaskInfo]:
        """Return a snapshot of every task of a workflow, in submission order."""
        return [snapshots.task_info(task) for task in self._workflows[workflow_id].tasks.values()]

    def outline(self, workflow_id: str) -> list[TaskSpec]:
        """Return a workflow's tasks as bare specs (id, handler, priority, dependencies).

        What a picture of a running workflow needs, for a driver that does not hold its
        spec: handlers by name only (``module:function``, or the agent's pool name);
        no arguments. Raises `KeyError` for an unknown id.
        """
        workflow = self._book.require(workflow_id)
        graph = workflow.graph
        outline = []
        for task in workflow.tasks.values():
            if task.compensates is not None:
                continue  # outside the graph
            handler: dict[str, Any] = (
                {"function": handler_name(task.function)}
                if task.function is not None
                else {"agent": task.pool.spec.key.partition("[")[0]}
            )
            outline.append(
                TaskSpec(
                    id=task.task_id,
                    priority=Priority(task.priority),
                    depends_on=tuple(graph.dependencies(task.task_id)),
                    **handler,
                )
            )
        return outline

    def summary(self, workflow_id: str) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up of a workflow."""
        return snapshots.run_summary(self._workflows[workflow_id], self._clock.now_s())

    def statistics(self) -> SchedulerStatistics:
        """Return a snapshot of workflows, tasks, pools and agents (cheap: counters only)."""
        return snapshots.scheduler_statistics(
            self._workflows.values(), self._fleet.pools, self._dispatcher.attempts_running()
        )

    def checkpoint_entry(
        self, workflow_id: str, task_ids: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """Return the JSON-safe checkpoint entry of a workflow (see `checkpoint_state`).

        ``task_ids``: only those tasks (what changed since the last checkpoint); None:
        every task that left its first state. Raises `KeyError` for an unknown id.
        """
        workflow = self._book.require(workflow_id)
        return checkpoint_state.workflow_entry(workflow, self._dead_letters, task_ids)

    def running_tasks(self) -> dict[str, list[str]]:
        """Return the tasks with an attempt running, by workflow (for checkpoints)."""
        running: dict[str, list[str]] = {}
        for task in self._dispatcher.running_tasks():
            running.setdefault(task.workflow.workflow_id, []).append(task.task_id)
        return running

    def schedules(self) -> list[ScheduleInfo]:
        """Return every schedule's state, by name."""
        return self._schedules.infos()

    def schedule_entries(self) -> dict[str, tuple[dict[str, Any], PackedWorkflow]]:
        """Return each schedule's checkpoint entry and workflow, by name."""
        return {name: (r.entry(), r.workflow) for name, r in self._schedules.records.items()}

    def dead_letters(self, workflow_id: str | None = None) -> list[DeadLetter]:
        """Return the tasks that failed for good, of one workflow or of all, oldest first."""
        return self._dead_letters.letters(workflow_id)

    def pool_specs(self) -> dict[str, AgentPoolSpec]:
        """Return every pool's spec by key."""
        return {key: pool.spec for key, pool in self._fleet.pools.items()}

    def agents(self) -> dict[str, str]:
        """Return live agent ids and their pool keys."""
        return {agent_id: agent.pool.spec.key for agent_id, agent in self._fleet.agents.items()}
