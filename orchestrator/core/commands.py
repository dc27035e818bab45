"""Commands: what `Scheduler.handle` asks the runtime to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.specs import Priority
from orchestrator.core.states import TaskState, WorkflowState


class AttemptOrder(NamedTuple):
    """One attempt inside a `DispatchBatch` (a named tuple: cheap to make on the hot path).

    Attributes:
        attempt_id: Unique across the scheduler's life; echoed in the outcome.
        workflow_id: The task's workflow.
        task_id: The task.
        attempt: 1 for the first attempt, 2 for the next...
        function: For function tasks, the callable or its import path; None for agents.
        args: Positional arguments, with `OutputOf` placeholders.
        kwargs: Keyword arguments, with `OutputOf` placeholders.
        inputs: Ids of the tasks whose results this attempt receives.
        priority: The task's priority.
        last_heartbeat: The details of the last progress an earlier attempt of the task
            reported (``ctx.last_heartbeat``), so that it can resume where it stopped.
        heartbeat_timeout_s: The task's heartbeat timeout, or None: with it, the agent
            marks when the handler starts, which starts the timeout's clock.
        queued_s: How long the task waited in its pool's ready queue before this
            dispatch (metrics: queue wait).
        run_if: The task's predicate on its upstream results, or None (see
            `TaskSpec.run_if`): the agent evaluates it before running the task.
    """

    attempt_id: int
    workflow_id: str
    task_id: str
    attempt: int
    function: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    inputs: tuple[str, ...]
    priority: Priority
    last_heartbeat: Any = None
    heartbeat_timeout_s: float | None = None
    queued_s: float = 0.0
    run_if: Any = None


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class StartAgent(_Command):
    """Start one replica of ``pool`` and call it ``agent_id``.

    With ``node_id``, the replica must run on that node (hard affinity): the scheduler
    chose the node whose free capacity fits it. Without, Ray places it.
    """

    kind: Literal["start_agent"] = "start_agent"
    agent_id: str
    pool: AgentPoolSpec
    node_id: str | None = None


class StopAgent(_Command):
    """Stop (kill) an agent; any call still running on it is abandoned.

    ``lost``: the agent was lost (died, hung, its node gone...) rather than stopped on
    purpose; ``reason`` then carries the full cause, told once for the agent.
    """

    kind: Literal["stop_agent"] = "stop_agent"
    agent_id: str
    reason: str
    lost: bool = False


class StopAttempts(_Command):
    """Ask an agent to stop attempts (preempted), or to hand back those not started.

    ``ctx.should_stop`` turns true for those running; those not started yet are handed
    back without running. ``unstarted_only``: running ones are left alone (`hand_back`).
    """

    kind: Literal["stop_attempts"] = "stop_attempts"
    agent_id: str
    attempt_ids: tuple[int, ...]
    reason: str
    unstarted_only: bool = False


@dataclass(frozen=True, slots=True)
class DispatchBatch:
    """Hand a batch of attempts to an agent in one call.

    A slotted dataclass rather than a pydantic model: one is made per call on the hot
    path, from trusted values.
    """

    agent_id: str
    call_id: int
    attempts: tuple[AttemptOrder, ...]
    urgent: bool = False
    kind: Literal["dispatch_batch"] = "dispatch_batch"


class TaskEvent(NamedTuple):
    """A task changed state (success, failure, retry, skip, cancel, or re-queue after a loss).

    Attributes:
        workflow_id: The task's workflow.
        task_id: The task.
        state: The state it entered.
        attempt: Attempts started so far.
        message: Why, for anything but a plain success.
    """

    workflow_id: str
    task_id: str
    state: TaskState
    attempt: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class PublishTaskEvents:
    """Tell observers about task state changes, in the order they happened (hot path)."""

    events: tuple[TaskEvent, ...]
    kind: Literal["publish_task_events"] = "publish_task_events"


class PublishWorkflowEvent(_Command):
    """Tell observers that a workflow finished."""

    kind: Literal["publish_workflow_event"] = "publish_workflow_event"
    workflow_id: str
    state: WorkflowState
    message: str = ""


class PublishPoolEvent(_Command):
    """Tell observers that something changed for a whole pool (its circuit breaker)."""

    kind: Literal["publish_pool_event"] = "publish_pool_event"
    pool: str
    event: Literal["breaker"]
    state: str
    message: str = ""


class ReleaseWorkflow(_Command):
    """Drop everything held for a finished workflow (its results in the object store)."""

    kind: Literal["release_workflow"] = "release_workflow"
    workflow_id: str


@dataclass(frozen=True, slots=True)
class SubmitScheduledRun:
    """Submit ``workflow`` (a copy of a schedule's, with its run's id) as a user would."""

    schedule: str
    workflow: Any  # a PackedWorkflow (kept apart from the pydantic commands: not validated)
    fire_s: float
    kind: Literal["submit_scheduled_run"] = "submit_scheduled_run"


class PublishScheduleEvent(_Command):
    """A schedule fired, skipped a firing, or was added or removed."""

    kind: Literal["publish_schedule_event"] = "publish_schedule_event"
    schedule: str
    event: Literal["added", "removed", "fired", "skipped"]
    message: str = ""


Command = Annotated[
    StartAgent
    | StopAgent
    | StopAttempts
    | DispatchBatch
    | PublishTaskEvents
    | PublishWorkflowEvent
    | PublishPoolEvent
    | ReleaseWorkflow
    | SubmitScheduledRun
    | PublishScheduleEvent,
    Field(discriminator="kind"),
]
