"""Read-only snapshots of workflows and tasks, safe to send to a driver."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from orchestrator.core.specs import Priority
from orchestrator.core.states import TaskState, WorkflowState


class TaskInfo(BaseModel):
    """What is known about one task.

    Attributes:
        task_id: The task.
        state: Its current state.
        priority: Its priority.
        attempts: Attempts started so far (lost ones included).
        agent_id: The agent running (or that last ran) it.
        started_s: Start of the last attempt (wall clock).
        finished_s: End of the last attempt.
        error_type: Exception class of the last failure.
        error_message: Text of the last failure, or why the task was skipped or cancelled.
        traceback: Traceback of the last failure.
        deadline_missed: Its deadline passed before it ended.
    """

    model_config = ConfigDict(frozen=True)

    task_id: str
    state: TaskState
    priority: Priority
    attempts: int = 0
    agent_id: str | None = None
    started_s: float | None = None
    finished_s: float | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    deadline_missed: bool = False

    @property
    def duration_s(self) -> float | None:
        """How long the last attempt ran, when it has ended."""
        if self.started_s is None or self.finished_s is None:
            return None
        return self.finished_s - self.started_s


class WorkflowStatus(BaseModel):
    """Counts of tasks per state and the workflow's own state.

    Attributes:
        workflow_id: The workflow.
        name: Its name.
        state: Running, or how it ended.
        total: Number of tasks.
        counts: Tasks per state (states with no task are left out).
        submitted_s: When it was accepted.
        finished_s: When its last task ended.
        deadline_misses: Its tasks whose deadline passed before they ended.
    """

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    name: str
    state: WorkflowState
    total: int
    counts: dict[TaskState, int]
    submitted_s: float
    finished_s: float | None = None
    deadline_misses: int = 0

    def count(self, state: TaskState) -> int:
        """Return how many tasks are in ``state``."""
        return self.counts.get(state, 0)

    @property
    def done(self) -> int:
        """Tasks that will not change again."""
        return sum(n for state, n in self.counts.items() if state.is_terminal)

    @property
    def progress(self) -> float:
        """Fraction of tasks finished, 0.0 to 1.0."""
        return self.done / self.total if self.total else 1.0


class RunSummary(BaseModel):
    """How a finished (or running) workflow went, in numbers a user compares.

    Attributes:
        workflow_id: The workflow.
        state: Its state.
        total: Tasks in it.
        succeeded: Tasks that succeeded.
        failed: Tasks that failed.
        skipped: Tasks skipped because something they needed failed.
        cancelled: Tasks cancelled.
        wall_s: From submission to the end of the last task.
        task_time_sum_s: Sum of all attempts' run times: what a sequential run would take.
        critical_path: The chain of tasks that bounded the run, by measured run time.
        critical_path_s: Its length.
        speedup: ``task_time_sum_s / wall_s``.
        deadline_misses: Tasks whose deadline passed before they ended.
    """

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    state: WorkflowState
    total: int
    succeeded: int
    failed: int
    skipped: int
    cancelled: int
    wall_s: float
    task_time_sum_s: float
    critical_path: tuple[str, ...]
    critical_path_s: float
    speedup: float
    deadline_misses: int = 0


class PoolStatistics(BaseModel):
    """One agent pool at a glance.

    Attributes:
        ready: Tasks queued for the pool's agents.
        open_tasks: Tasks of the pool not finished yet (pending ones included).
        agents: Live replicas.
        calls_in_flight: Calls handed to its replicas and not answered yet.
        mean_task_s: Moving average of its tasks' run time (None before the first).
        breaker: Its circuit breaker's state (``closed``, ``open``, ``half_open``), or
            None when it has none.
        breaker_failures: Consecutive failures its breaker counted.
        ready_by_priority: Queued tasks per priority name (``high``...), as queued now
            (aging may have raised them); suspects waiting to run alone included.
        attempts_running: Attempts handed to its replicas and not finished.
        busy_agents: Replicas with at least one call in flight.
        agents_started: Replicas started since the pool was defined (replacements and
            restarts after idleness included). A ganged pool (`core.gangs`) has none: its
            tasks run on its host pool's agents.
        gang_host: For a ganged pool, the key of the pool whose agents run its tasks.
    """

    model_config = ConfigDict(frozen=True)

    ready: int
    open_tasks: int
    agents: int
    calls_in_flight: int
    mean_task_s: float | None
    breaker: str | None = None
    breaker_failures: int = 0
    ready_by_priority: dict[str, int] = {}
    attempts_running: int = 0
    busy_agents: int = 0
    agents_started: int = 0
    gang_host: str | None = None


class SchedulerStatistics(BaseModel):
    """The scheduler at a glance.

    Attributes:
        workflows_running: Workflows not finished.
        workflows_kept: Workflows known (running or finished and not yet released).
        tasks: Tasks per state, over the workflows kept.
        attempts_running: Attempts handed to agents and not finished.
        pools: Each pool's statistics, by pool key.
    """

    model_config = ConfigDict(frozen=True)

    workflows_running: int
    workflows_kept: int
    tasks: dict[TaskState, int]
    attempts_running: int
    pools: dict[str, PoolStatistics]


class ScheduleInfo(BaseModel):
    """A recurring workflow and where it stands.

    Attributes:
        name: The schedule.
        cron: Its cron expression, or None for an interval.
        every_s: Its interval, or None for a cron expression.
        topic: The topic whose messages start its runs, or None.
        timezone: The time zone its cron expression is read in.
        next_s: When it fires next (POSIX time); None for a topic's.
        last_fire_s: When it last fired, or None.
        runs: Runs it started.
        last_run_id: The id of its last run (a workflow id), or None.
        skipped_overlaps: Firings skipped because the previous run still ran.
        missed_runs: Firings that fell while the orchestrator was down.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    cron: str | None
    every_s: float | None
    topic: str | None = None
    timezone: str
    next_s: float | None
    last_fire_s: float | None = None
    runs: int = 0
    last_run_id: str | None = None
    skipped_overlaps: int = 0
    missed_runs: int = 0
