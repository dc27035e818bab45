"""Events: things that happened, fed to `Scheduler.handle`.

Events are frozen pydantic models discriminated by ``kind``. The bulk payload of
`AttemptsFinished` is a tuple of slotted dataclasses built by trusted runtime code, so it
skips validation: it is the hot path.
"""

from __future__ import annotations

from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.resources import NodeCapacity
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
    """

    attempt_id: int
    ok: bool
    started_s: float
    finished_s: float
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    retryable: bool = True


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class ClusterObserved(_Event):
    """The runtime read the cluster's nodes and their resources."""

    kind: Literal["cluster_observed"] = "cluster_observed"
    nodes: tuple[NodeCapacity, ...]


class WorkflowSubmitted(_Event):
    """A user submitted a workflow (as a spec, or packed by a driver); its ``id`` must be set."""

    kind: Literal["workflow_submitted"] = "workflow_submitted"
    workflow: Annotated[WorkflowSpec | PackedWorkflow, SkipValidation]


class WorkflowCancelRequested(_Event):
    """A user asked to cancel a workflow."""

    kind: Literal["workflow_cancel_requested"] = "workflow_cancel_requested"
    workflow_id: str
    reason: str = "cancelled by user"


class WorkflowReleaseRequested(_Event):
    """A user is done with a finished workflow: forget it and free its results."""

    kind: Literal["workflow_release_requested"] = "workflow_release_requested"
    workflow_id: str


class AttemptsFinished(_Event):
    """Agents reported the end of one or more attempts."""

    kind: Literal["attempts_finished"] = "attempts_finished"
    outcomes: Annotated[tuple[AttemptOutcome, ...], SkipValidation]


class AgentLost(_Event):
    """An agent died, hung, failed to start, or its calls failed at the transport level."""

    kind: Literal["agent_lost"] = "agent_lost"
    agent_id: str
    cause: Literal["died", "hung", "failed_to_start", "unreachable"]
    reason: str


class Tick(_Event):
    """Time passed: timers (retries, timeouts, idle agents) may be due."""

    kind: Literal["tick"] = "tick"


Event = Annotated[
    ClusterObserved
    | WorkflowSubmitted
    | WorkflowCancelRequested
    | WorkflowReleaseRequested
    | AttemptsFinished
    | AgentLost
    | Tick,
    Field(discriminator="kind"),
]
