"""The pure scheduling core: models, graph, queue and the `Scheduler` state machine.

Nothing here imports Ray or does I/O; time comes from an injected clock.
"""

from orchestrator.core.bounds import LowerBound, lower_bound_s
from orchestrator.core.clock import Clock, FakeClock
from orchestrator.core.commands import (
    AttemptOrder,
    Command,
    DispatchBatch,
    PublishPoolEvent,
    PublishTaskEvents,
    PublishWorkflowEvent,
    ReleaseWorkflow,
    StartAgent,
    StopAgent,
    StopAttempts,
    TaskEvent,
)
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.dead_letters import DeadLetter
from orchestrator.core.errors import Problem, WorkflowRejectedError
from orchestrator.core.events import (
    AdmissionContinued,
    AgentLost,
    AttemptOutcome,
    AttemptProgress,
    AttemptsFinished,
    AttemptsProgressed,
    ClusterObserved,
    DeadLettersPurgeRequested,
    DeadLettersRequeueRequested,
    Event,
    Tick,
    WorkflowCancelRequested,
    WorkflowPauseRequested,
    WorkflowReleaseRequested,
    WorkflowRestored,
    WorkflowResumeRequested,
    WorkflowSubmitted,
)
from orchestrator.core.graph import CriticalPath, GraphProblem, GraphValidationError, TaskGraph
from orchestrator.core.pools import AgentPoolSpec
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.resources import NodeCapacity, ResourceSpec
from orchestrator.core.scheduler import Scheduler
from orchestrator.core.specs import (
    AgentSpec,
    OutputOf,
    Priority,
    RetryPolicy,
    TaskSpec,
    WorkflowSpec,
)
from orchestrator.core.states import IllegalTransitionError, TaskState, WorkflowState
from orchestrator.core.status import (
    PoolStatistics,
    RunSummary,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)

__all__ = [
    "AdmissionContinued",
    "AgentLost",
    "AgentPoolSpec",
    "AgentSpec",
    "AttemptOrder",
    "AttemptOutcome",
    "AttemptProgress",
    "AttemptsFinished",
    "AttemptsProgressed",
    "Clock",
    "ClusterObserved",
    "Command",
    "CriticalPath",
    "DeadLetter",
    "DeadLettersPurgeRequested",
    "DeadLettersRequeueRequested",
    "DispatchBatch",
    "Event",
    "FakeClock",
    "GraphProblem",
    "GraphValidationError",
    "IllegalTransitionError",
    "LowerBound",
    "NodeCapacity",
    "OutputOf",
    "PoolStatistics",
    "Priority",
    "PriorityTaskQueue",
    "Problem",
    "PublishPoolEvent",
    "PublishTaskEvents",
    "PublishWorkflowEvent",
    "ReleaseWorkflow",
    "ResourceSpec",
    "RetryPolicy",
    "RunSummary",
    "Scheduler",
    "SchedulerConfig",
    "SchedulerStatistics",
    "StartAgent",
    "StopAgent",
    "StopAttempts",
    "TaskEvent",
    "TaskGraph",
    "TaskInfo",
    "TaskSpec",
    "TaskState",
    "Tick",
    "WorkflowCancelRequested",
    "WorkflowPauseRequested",
    "WorkflowRejectedError",
    "WorkflowReleaseRequested",
    "WorkflowRestored",
    "WorkflowResumeRequested",
    "WorkflowSpec",
    "WorkflowState",
    "WorkflowStatus",
    "WorkflowSubmitted",
    "lower_bound_s",
]
