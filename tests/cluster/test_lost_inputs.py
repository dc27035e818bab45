"""An upstream result lost with its node is reported lost, by name, by the agent host."""

from __future__ import annotations

import pytest
import ray
from ray.cluster_utils import Cluster

from orchestrator.runtime.agent_host import _fetch_inputs

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


@ray.remote(max_retries=0, resources={"doomed": 1})
def _big_result() -> bytes:
    return b"x" * 500_000  # large enough to live in the worker node's object store


def test_a_result_lost_with_its_node_is_told_apart_from_the_others(cluster: Cluster) -> None:
    # Given a result computed on a worker node, and another kept on the head node
    worker = cluster.add_node(num_cpus=1, resources={"doomed": 1})
    cluster.wait_for_nodes()
    doomed = _big_result.remote()
    ray.wait([doomed], fetch_local=False)
    kept = ray.put({"fine": True})
    # When the worker node leaves the cluster
    cluster.remove_node(worker)
    # Then fetching both reports the first lost, by its index, and returns the other
    values, lost, detail = _fetch_inputs([kept, doomed])
    assert lost == {1}
    assert values == [{"fine": True}, None]
    assert "Object" in detail and "Error" in detail, detail
