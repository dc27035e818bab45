"""The one place that turns a `ResourceSpec` into Ray actor options."""

from __future__ import annotations

from typing import Any

from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from orchestrator.core.resources import ResourceSpec


def actor_options(resources: ResourceSpec, node_id: str | None = None) -> dict[str, Any]:
    """Return ``.options(...)`` keyword arguments reserving ``resources`` for an actor.

    Agents are never restarted by Ray: the supervisor replaces a dead agent itself, with a
    new id, and re-queues its work, so that every attempt is accounted for. With
    ``node_id`` (the node the scheduler placed it on), the agent must run there (hard
    affinity): the scheduler's ledger of what each node holds stays true. An agent that
    cannot start there within the heartbeat's start timeout is replaced.

    Custom resources go into Ray's ``resources=``. Node labels and ``spread`` are the
    scheduler's business when it chose ``node_id``; without one (no node reported yet),
    labels become Ray's ``label_selector`` so that Ray itself keeps them.
    """
    options: dict[str, Any] = {
        "num_cpus": resources.num_cpus,
        "num_gpus": resources.num_gpus,
        "max_restarts": 0,
        "max_task_retries": 0,
    }
    if resources.memory_bytes:
        options["memory"] = resources.memory_bytes
    if resources.custom:
        options["resources"] = dict(resources.custom)
    if node_id is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id, soft=False)
    elif resources.node_labels:
        options["label_selector"] = dict(resources.node_labels)
    return options
