"""`SupervisorQueries`: the supervisor's read-only calls (status, tasks, results, counters).

A mixin of `Supervisor`: what drivers, tools and tests ask without changing anything. The
calls that change things (submit, cancel, pause...) stay in `orchestrator.runtime.supervisor`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from orchestrator.core.dead_letters import DeadLetter
from orchestrator.core.scheduler import Scheduler
from orchestrator.core.specs import TaskSpec
from orchestrator.core.states import TaskState
from orchestrator.core.status import (
    RunSummary,
    ScheduleInfo,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)
from orchestrator.runtime.agent_registry import AgentRegistry
from orchestrator.runtime.dispatcher import Dispatcher
from orchestrator.runtime.durability import Durability
from orchestrator.runtime.process_memory import process_memory
from orchestrator.runtime.results import (
    MAX_PAGE_RESULTS,
    ResultPage,
    ResultStore,
    read_page,
)
from orchestrator.settings import Settings

#: How often a call waiting for a workflow's admission to end looks again (seconds).
ADMISSION_POLL_S = 0.005


class SupervisorQueries:
    """Read-only calls over the supervisor's parts (set by `Supervisor.__init__`)."""

    _settings: Settings
    _scheduler: Scheduler
    _results: ResultStore
    _agents: AgentRegistry
    _dispatcher: Dispatcher
    _durability: Durability

    async def _admitted(self, workflow_id: str) -> None:
        """Return once ``workflow_id`` is no longer being admitted a slice at a time.

        The supervisor's loop admits the slices (see `orchestrator.core.admitting`); calls
        that list a workflow's tasks wait for it, so they never see half of them.
        """
        while workflow_id in self._scheduler.admitting():
            await asyncio.sleep(ADMISSION_POLL_S)

    async def status(self, workflow_id: str) -> WorkflowStatus:
        """Return a workflow's counts per state. Raises `KeyError` for an unknown id.

        Answered at once, also while the workflow is being admitted: its tasks not yet
        queued then count as PENDING.
        """
        return self._scheduler.workflow_status(workflow_id)

    async def tasks(self, workflow_id: str) -> list[TaskInfo]:
        """Return every task's state, attempts, timings and errors (once it is admitted)."""
        await self._admitted(workflow_id)
        return self._scheduler.task_infos(workflow_id)

    async def task(self, workflow_id: str, task_id: str) -> TaskInfo:
        """Return one task's state, attempts, timings and errors (once it is admitted)."""
        await self._admitted(workflow_id)
        return self._scheduler.task_info(workflow_id, task_id)

    async def result(self, workflow_id: str, task_id: str) -> tuple[TaskInfo, ResultPage | None]:
        """Return a task's info and, when it succeeded, its result in a one-task `ResultPage`.

        The result is read here when it is small (see `read_page`), else sent as its ref.
        """
        await self._admitted(workflow_id)
        info = self._scheduler.task_info(workflow_id, task_id)
        ref = self._results.get(workflow_id, task_id)
        if ref is None or info.state is not TaskState.SUCCEEDED:
            return info, None
        return info, await asyncio.to_thread(read_page, {task_id: ref})

    async def result_page(self, workflow_id: str, task_ids: list[str] | None) -> ResultPage:
        """Return results of a workflow's succeeded tasks: small ones read, large ones as refs.

        Args:
            workflow_id: The workflow.
            task_ids: The tasks to read (those without a result are left out); None: every
                task with a result, in the order they were stored.

        The values are read on a thread, so the event loop keeps dispatching meanwhile.

        Raises:
            KeyError: the workflow is unknown, or released.
        """
        self._scheduler.workflow_status(workflow_id)  # a clear KeyError for unknown ids
        held = self._results.of(workflow_id)
        wanted = list(held) if task_ids is None else [t for t in task_ids if t in held]
        refs = {task_id: held[task_id] for task_id in wanted[:MAX_PAGE_RESULTS]}
        page = await asyncio.to_thread(read_page, refs)
        return page._replace(rest=(*page.rest, *wanted[MAX_PAGE_RESULTS:]))

    async def outline(self, workflow_id: str) -> list[TaskSpec]:
        """Return a workflow's tasks as bare specs, for its picture (`Scheduler.outline`)."""
        await self._admitted(workflow_id)
        return self._scheduler.outline(workflow_id)

    async def summary(self, workflow_id: str) -> RunSummary:
        """Return wall time, summed task time, critical path and speed-up."""
        await self._admitted(workflow_id)
        return self._scheduler.summary(workflow_id)

    async def workflows(self) -> list[WorkflowStatus]:
        """Return the status of every workflow, oldest first."""
        return [self._scheduler.workflow_status(w) for w in self._scheduler.workflow_ids()]

    async def settings(self) -> Settings:
        """Return the settings this supervisor runs with (drivers compare theirs)."""
        return self._settings

    async def last_checkpoint(self) -> str | None:
        """Return the key of the newest checkpoint this supervisor saved, or None."""
        return self._durability.last_checkpoint

    async def dead_letters(self, workflow_id: str | None = None) -> list[DeadLetter]:
        """Return the tasks that failed for good (of one workflow, or all), oldest first."""
        return self._scheduler.dead_letters(workflow_id)

    async def statistics(self) -> SchedulerStatistics:
        """Return the scheduler's counters: workflows, tasks per state, pools, agents."""
        return self._scheduler.statistics()

    async def agents(self) -> dict[str, str]:
        """Return live agent ids and their pools."""
        return self._scheduler.agents()

    async def agent_health(self) -> dict[str, str]:
        """Return each watched agent's health as the heartbeat actor sees it (``healthy``...).

        Empty before the first workflow started the heartbeat actor.
        """
        heartbeat = self._agents.heartbeat
        if heartbeat is None:
            return {}
        health = await heartbeat.health.remote()
        return {agent_id: str(state) for agent_id, state in health.items()}

    async def agent_handle(self, agent_id: str) -> list[Any]:
        """Return ``[handle]`` of a live agent (empty when unknown); for tests and tools."""
        handle = self._agents.handles.get(agent_id)
        return [handle] if handle is not None else []

    async def agents_to_watch(self) -> dict[str, list[Any]]:
        """Return ``{agent id: [handle]}`` of live agents (the heartbeat's list after a restart)."""
        return {agent_id: [handle] for agent_id, handle in self._agents.handles.items()}

    async def heartbeat_handle(self) -> list[Any]:
        """Return ``[handle]`` of the heartbeat actor (empty before the first workflow)."""
        heartbeat = self._agents.heartbeat
        return [heartbeat] if heartbeat is not None else []

    async def process_stats(self) -> dict[str, int]:
        """Return resident memory (now and peak), its pid and current counts (tests, benchmarks)."""
        return {
            **process_memory(),
            "pid": os.getpid(),
            "agents": len(self._agents),
            "calls_in_flight": len(self._dispatcher),
            "results_held": len(self._results),
        }

    async def schedules(self) -> list[ScheduleInfo]:
        """Return every schedule's state, by name."""
        return self._scheduler.schedules()
