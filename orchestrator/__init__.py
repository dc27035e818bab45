"""A Ray-native orchestrator for fleets of agents.

Importing this package is cheap and never starts or imports Ray: the names that need Ray
(`Orchestrator`, `WorkflowRun`, their errors) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator.agent import (
    Agent,
    NonRetryableError,
    TaskContext,
    TaskPreempted,
    current_task,
)
from orchestrator.core import (
    AgentSpec,
    OutputOf,
    Priority,
    ResourceSpec,
    RetryPolicy,
    TaskSpec,
    TaskState,
    WorkflowRejectedError,
    WorkflowSpec,
    WorkflowState,
)
from orchestrator.core.specs import EVENT_PAYLOAD
from orchestrator.workflow import Workflow

if TYPE_CHECKING:
    from orchestrator.api import (
        Orchestrator,
        SupervisorUnavailableError,
        TaskFailedError,
        WorkflowRun,
    )

__all__ = [
    "EVENT_PAYLOAD",
    "Agent",
    "AgentSpec",
    "NonRetryableError",
    "Orchestrator",
    "OutputOf",
    "Priority",
    "ResourceSpec",
    "RetryPolicy",
    "SupervisorUnavailableError",
    "TaskContext",
    "TaskFailedError",
    "TaskPreempted",
    "TaskSpec",
    "TaskState",
    "Workflow",
    "WorkflowRejectedError",
    "WorkflowRun",
    "WorkflowSpec",
    "WorkflowState",
    "current_task",
]

_LAZY = {"Orchestrator", "WorkflowRun", "TaskFailedError", "SupervisorUnavailableError"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from orchestrator import api

        return getattr(api, name)
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")
