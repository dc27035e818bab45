"""Events: things that happened, fed to `Scheduler.handle`.

Events are frozen pydantic models discriminated by ``kind``. The bulk payload of
`AttemptsFinished` is a tuple of slotted dataclasses built by trusted runtime code, so it
skips validation: it is the hot path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.resources import NodeCapacity
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import WorkflowSpec


class AttemptOutcome(NamedTuple):
    """How one attempt ended, as the agent saw it (a named tuple: made once per attempt).

    Attributes:
        attempt_id: The id from the `DispatchBatch` command.
        ok: Whether the task returned normally.
        started_s: When the agent began running it (wall clock, seconds).
        finished_s: When it ended.
        error_type: Exception class name, when not ok.
        error_message: Exception text, when not ok.
        traceback: Formatted traceback, when not ok.
        retryable: False when the task asked not to be retried.
        error_lineage: Qualified names (``module.Class``) of the exception's class and its
            bases, most derived first, so that a retry policy can name a base class.
        lost_inputs: Upstream task ids whose results could not be fetched (lost with
            their node or owner): the task did not run, and those results must be
            computed again. Empty for every other outcome.
        skipped: The task's ``run_if`` predicate answered false: it did not run and is
            skipped (``ok`` is False, nothing is charged).
    """

    attempt_id: int
    ok: bool
    started_s: float
    finished_s: float
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retryable: bool = True
    error_lineage: tuple[str, ...] = ()
    lost_inputs: tuple[str, ...] = ()
    skipped: bool = False


class AttemptProgress(NamedTuple):
    """A running attempt reported progress (``ctx.heartbeat(details)`` in its handler).

    Attributes:
        attempt_id: The attempt.
        at_s: When the handler reported it (wall clock, seconds).
        details: What the handler passed (small, picklable); a retry receives the last.
        reported: False for the mark the agent makes itself when the handler starts (it
            carries no details): an attempt's heartbeat timeout counts from there, not
            from its dispatch, so a slow agent start-up is not taken for silence.
    """

    attempt_id: int
    at_s: float
    details: Any = None
    reported: bool = True


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class ClusterObserved(_Event):
    """The runtime read the cluster's nodes and their resources."""

    kind: Literal["cluster_observed"] = "cluster_observed"
    nodes: tuple[NodeCapacity, ...]


class WorkflowSubmitted(_Event):
    """A user submitted a workflow (as a spec, or packed by a driver); its ``id`` must be set.

    ``cached``: tasks whose result the runtime found in the result cache: they succeed at
    admission without running. ``prepared``: an `admission.Preparation` of this very
    workflow, made beforehand (off the event loop); None: the scheduler makes it.
    ``in_slices``: the runtime will send `AdmissionContinued` until the workflow is no
    longer `Scheduler.admitting`, so a large one may be admitted a slice at a time
    (``SchedulerConfig.admission_slice_tasks``); False: it is admitted whole, at once.
    """

    kind: Literal["workflow_submitted"] = "workflow_submitted"
    workflow: Annotated[WorkflowSpec | PackedWorkflow, SkipValidation]
    cached: tuple[str, ...] = ()
    prepared: Annotated[Any, SkipValidation] = None
    in_slices: bool = False


class AdmissionContinued(_Event):
    """The runtime let other work run: admit the next slice of a workflow being admitted.

    A workflow submitted ``in_slices`` with more than ``SchedulerConfig.admission_slice_tasks``
    tasks is admitted a slice at a time (see `orchestrator.core.admitting`). ``whole``:
    admit all that is left at once. A workflow not being admitted (done, or never) is left
    alone.
    """

    kind: Literal["admission_continued"] = "admission_continued"
    workflow_id: str
    whole: bool = False


class WorkflowCancelRequested(_Event):
    """A user asked to cancel a workflow."""

    kind: Literal["workflow_cancel_requested"] = "workflow_cancel_requested"
    workflow_id: str
    reason: str = "cancelled by user"


class WorkflowReleaseRequested(_Event):
    """A user is done with a finished workflow: forget it and free its results."""

    kind: Literal["workflow_release_requested"] = "workflow_release_requested"
    workflow_id: str


class DeadLettersRequeueRequested(_Event):
    """A user asked to run dead letters again (``task_ids`` None: all of the workflow's)."""

    kind: Literal["dead_letters_requeue_requested"] = "dead_letters_requeue_requested"
    workflow_id: str
    task_ids: tuple[str, ...] | None = None


class DeadLettersPurgeRequested(_Event):
    """A user asked to drop dead letters (``workflow_id`` None: every one)."""

    kind: Literal["dead_letters_purge_requested"] = "dead_letters_purge_requested"
    workflow_id: str | None = None
    task_ids: tuple[str, ...] | None = None


class WorkflowPauseRequested(_Event):
    """A user asked to pause a workflow: nothing of it starts until it is resumed.

    ``stop_running``: give up its running attempts too (re-queued, not charged), rather
    than letting them finish.
    """

    kind: Literal["workflow_pause_requested"] = "workflow_pause_requested"
    workflow_id: str
    stop_running: bool = False


class WorkflowResumeRequested(_Event):
    """A user asked a paused workflow to go on."""

    kind: Literal["workflow_resume_requested"] = "workflow_resume_requested"
    workflow_id: str


class WorkflowEdited(_Event):
    """A user added tasks to a running workflow (see `orchestrator.core.editing`).

    ``edges``: new dependencies of its existing tasks, ``(task, upstream)`` pairs.
    """

    kind: Literal["workflow_edited"] = "workflow_edited"
    workflow_id: str
    additions: Annotated[PackedWorkflow, SkipValidation]
    edges: tuple[tuple[str, str], ...] = ()


class WorkflowRestored(_Event):
    """A workflow comes back from a checkpoint: its spec, and where it was (``progress``).

    ``progress`` is the JSON-safe entry `checkpoint_state.workflow_entry` wrote for it.
    ``missing_results``: succeeded tasks whose result was not kept; those a task still to
    run needs are computed again.
    """

    kind: Literal["workflow_restored"] = "workflow_restored"
    workflow: Annotated[PackedWorkflow, SkipValidation]
    progress: Annotated[dict[str, Any], SkipValidation]
    missing_results: tuple[str, ...] = ()


class ScheduleAdded(_Event):
    """A user added a recurring workflow (see `orchestrator.core.schedules`)."""

    kind: Literal["schedule_added"] = "schedule_added"
    schedule: ScheduleSpec
    workflow: Annotated[PackedWorkflow, SkipValidation]


class ScheduleRemoved(_Event):
    """A user removed a schedule (its runs go on)."""

    kind: Literal["schedule_removed"] = "schedule_removed"
    name: str


class MessagePublished(_Event):
    """A message was published on a topic: the workflows triggered by it start a run."""

    kind: Literal["message_published"] = "message_published"
    topic: str
    payload: Annotated[Any, SkipValidation] = None


class ScheduleRestored(_Event):
    """A schedule comes back from a checkpoint, with its state (`ScheduleRecord.entry`)."""

    kind: Literal["schedule_restored"] = "schedule_restored"
    schedule: ScheduleSpec
    workflow: Annotated[PackedWorkflow, SkipValidation]
    state: Annotated[dict[str, Any], SkipValidation]


class AttemptsFinished(_Event):
    """Agents reported the end of one or more attempts."""

    kind: Literal["attempts_finished"] = "attempts_finished"
    outcomes: Annotated[tuple[AttemptOutcome, ...], SkipValidation]


#: Why an agent was lost; decides who is charged for the attempts it held:
#:
#: - ``died``: its process ended on its own while running its calls (a crash, ``os._exit``,
#:   the out-of-memory killer): blamed on what it was running.
#: - ``hung``: it stopped answering pings although Ray reports it alive: blamed on what it
#:   was running.
#: - ``killed``: stopped from outside on purpose (``ray.kill`` by someone else).
#: - ``node_lost``: its node left the cluster.
#: - ``failed_to_start``: it never became ready (its ``__init__``/``setup`` raised, or it
#:   could not be placed).
#: - ``unreachable``: its calls failed at the transport level.
#:
#: The last four are the infrastructure's fault, not the tasks': they count against each
#: task's ``max_agent_losses``.
LossCause = Literal["died", "hung", "killed", "node_lost", "failed_to_start", "unreachable"]


class AgentLost(_Event):
    """An agent is gone (see `LossCause`); its attempts are re-queued or charged."""

    kind: Literal["agent_lost"] = "agent_lost"
    agent_id: str
    cause: LossCause
    reason: str


class AttemptsProgressed(_Event):
    """Running attempts reported progress (heartbeats from their handlers)."""

    kind: Literal["attempts_progressed"] = "attempts_progressed"
    progress: Annotated[tuple[AttemptProgress, ...], SkipValidation]


class Tick(_Event):
    """Time passed: timers (retries, timeouts, idle agents) may be due."""

    kind: Literal["tick"] = "tick"


Event = Annotated[
    ClusterObserved
    | WorkflowSubmitted
    | AdmissionContinued
    | WorkflowCancelRequested
    | WorkflowReleaseRequested
    | DeadLettersRequeueRequested
    | DeadLettersPurgeRequested
    | WorkflowPauseRequested
    | WorkflowResumeRequested
    | WorkflowRestored
    | WorkflowEdited
    | ScheduleAdded
    | ScheduleRemoved
    | ScheduleRestored
    | MessagePublished
    | AttemptsFinished
    | AgentLost
    | AttemptsProgressed
    | Tick,
    Field(discriminator="kind"),
]
