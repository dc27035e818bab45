"""Tasks and agents for the custom-resource, placement and conditional-task tests."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import ray

from orchestrator import Agent, TaskContext


def node_after(seconds: float) -> str:
    """Sleep, then return the id of the node this runs on."""
    time.sleep(seconds)
    return str(ray.get_runtime_context().get_node_id())


def assigned_resources() -> dict[str, float]:
    """Return the resources Ray assigned to the actor this runs in."""
    return {str(k): float(v) for k, v in ray.get_runtime_context().get_assigned_resources().items()}


class SpreadProbe(Agent):
    """Three replicas spread over the nodes; each task reports its node."""

    num_cpus = 0.5
    replicas = 3
    placement = "spread"

    def handle(self, ctx: TaskContext) -> str:
        time.sleep(float(ctx.args[0]))
        return str(ray.get_runtime_context().get_node_id())


def is_large(inputs: Mapping[str, Any]) -> bool:
    """Run only when the upstream ``measure`` reported more than 10."""
    return bool(inputs["measure"] > 10)


def value(x: Any) -> Any:
    """Return ``x``."""
    return x


def broken_predicate(inputs: Mapping[str, Any]) -> bool:
    """A predicate that raises."""
    raise KeyError("nope")
