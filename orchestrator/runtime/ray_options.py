"""The one place that turns a `ResourceSpec` into Ray actor options."""

from __future__ import annotations

from typing import Any

from orchestrator.core.resources import ResourceSpec


def actor_options(resources: ResourceSpec) -> dict[str, Any]:
    """Return ``.options(...)`` keyword arguments reserving ``resources`` for an actor.

    Agents are never restarted by Ray: the supervisor replaces a dead agent itself, with a
    new id, and re-queues its work, so that every attempt is accounted for.
    """
    options: dict[str, Any] = {
        "num_cpus": resources.num_cpus,
        "num_gpus": resources.num_gpus,
        "max_restarts": 0,
        "max_task_retries": 0,
    }
    if resources.memory_bytes:
        options["memory"] = resources.memory_bytes
    return options
