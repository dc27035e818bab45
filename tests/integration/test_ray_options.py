"""`actor_options`: resources and, when the scheduler placed the agent, its node."""

from __future__ import annotations

import pytest
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from orchestrator.core.resources import ResourceSpec
from orchestrator.runtime.ray_options import actor_options

pytestmark = pytest.mark.integration


def test_resources_become_ray_options_and_agents_are_never_restarted_by_ray() -> None:
    options = actor_options(ResourceSpec(num_cpus=0.5, num_gpus=1, memory_bytes=2**20))
    assert options == {
        "num_cpus": 0.5,
        "num_gpus": 1,
        "memory": 2**20,
        "max_restarts": 0,
        "max_task_retries": 0,
    }


def test_a_placed_agent_is_pinned_to_its_node() -> None:
    options = actor_options(ResourceSpec(), node_id="ab" * 28)
    strategy = options["scheduling_strategy"]
    assert isinstance(strategy, NodeAffinitySchedulingStrategy)
    assert (strategy.node_id, strategy.soft) == ("ab" * 28, False)
    assert "scheduling_strategy" not in actor_options(ResourceSpec())


def test_custom_resources_become_rays_resources_and_labels_a_selector() -> None:
    spec = ResourceSpec(num_cpus=1, custom={"db_conn": 1}, node_labels={"zone": "a"})
    options = actor_options(spec)
    assert options["resources"] == {"db_conn": 1.0}
    # Unplaced (no node reported yet): Ray keeps the labels itself
    assert options["label_selector"] == {"zone": "a"}
    # Placed: the scheduler chose a node carrying them; the pin is enough
    placed = actor_options(spec, node_id="ab" * 28)
    assert "label_selector" not in placed
    assert placed["resources"] == {"db_conn": 1.0}
