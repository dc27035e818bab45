"""Custom resources, node labels and spread on a simulated three-node cluster."""

from __future__ import annotations

import pytest
import ray
from ray.cluster_utils import Cluster

from orchestrator import Orchestrator, Workflow, WorkflowRejectedError
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.states import WorkflowState
from orchestrator.settings import HeartbeatSettings, LoggingSettings, RaySettings, Settings
from tests.integration import placement_workloads as work

pytestmark = [pytest.mark.cluster, pytest.mark.integration, pytest.mark.slow]

A100 = "accelerator_type:A100"


def test_custom_resources_labels_and_spread_place_agents_node_by_node(cluster: Cluster) -> None:
    # Given a head node (2 CPUs) and two workers: one with database connections in zone
    # a, one with an A100 in zone b
    db_node = cluster.add_node(num_cpus=2, resources={"db_conn": 2}, labels={"zone": "a"})
    gpu_node = cluster.add_node(num_cpus=2, resources={A100: 1}, labels={"zone": "b"})
    cluster.wait_for_nodes()
    settings = Settings(
        ray=RaySettings(auth_mode="disabled", log_to_driver=False),
        scheduler=SchedulerConfig(default_function_resources=ResourceSpec(num_cpus=0.5)),
        heartbeat=HeartbeatSettings(interval_s=0.2, slow_after_s=1.0, hung_after_s=5.0),
        logging=LoggingSettings(level="WARNING"),
    )
    orchestrator = Orchestrator(settings=settings).start()
    try:
        wf = Workflow("placement")
        wf.task("query", work.node_after, args=(0.0,), resources={"num_cpus": 0.5, "db_conn": 1})
        wf.task("grants", work.assigned_resources, resources={"num_cpus": 0.5, "db_conn": 1})
        wf.task("train", work.node_after, args=(0.0,), resources={"num_cpus": 0.5, A100: 1})
        wf.task(
            "zoned",
            work.node_after,
            args=(0.0,),
            resources={"num_cpus": 0.5, "node_labels": {"zone": "b"}},
        )
        for index in range(3):  # three at once, one per replica: one per node
            wf.task(f"spread-{index}", work.SpreadProbe, args=(2.0,))
        run = orchestrator.submit(wf)
        status = run.wait(timeout_s=180)
        assert status.state is WorkflowState.SUCCEEDED, run.tasks()
        # Then each task ran on the node that has what it asked for
        assert run.result("query") == db_node.node_id
        assert run.result("grants")["db_conn"] == 1.0  # Ray reserved it for the agent
        assert run.result("train") == gpu_node.node_id
        assert run.result("zoned") == gpu_node.node_id
        spread = {run.result(f"spread-{index}") for index in range(3)}
        assert len(spread) == 3, spread  # one replica per node
        # And a task needing what no node has is refused at submit, naming it
        bad = Workflow("infeasible")
        bad.task("tpu", work.value, args=(1,), resources={"num_cpus": 0.5, "tpu": 1})
        bad.task("far", work.value, args=(1,), resources={"node_labels": {"zone": "z"}})
        with pytest.raises(WorkflowRejectedError) as exc:
            orchestrator.submit(bad)
        text = str(exc.value)
        assert "needs 1 tpu but the largest node has 0" in text
        assert "needs a node labelled zone=z" in text
        assert ray.is_initialized()
    finally:
        orchestrator.shutdown()


def test_a_node_that_joins_between_two_submissions_is_seen_by_the_second(
    cluster: Cluster,
) -> None:
    # Given a supervisor that has just read the cluster's nodes for a submission
    settings = Settings(
        ray=RaySettings(auth_mode="disabled", log_to_driver=False, supervisor_name="late-node"),
        scheduler=SchedulerConfig(default_function_resources=ResourceSpec(num_cpus=0.5)),
        logging=LoggingSettings(level="WARNING"),
    )
    orchestrator = Orchestrator(settings=settings).start()
    try:
        first = Workflow("before")
        first.task("here", work.value, args=(1,))
        assert orchestrator.run(first, timeout_s=120).status().state is WorkflowState.SUCCEEDED
        # When a node with a resource nobody had joins, and a workflow asks for it at once
        # (within the second for which a submission trusts the last reading)
        late = cluster.add_node(num_cpus=1, resources={"late_gadget": 1})
        cluster.wait_for_nodes()
        second = Workflow("after")
        second.task("there", work.node_after, args=(0.0,), resources={"late_gadget": 1})
        run = orchestrator.submit(second)
        # Then it is accepted (refused by the old reading, checked again with fresh nodes)
        assert run.wait(timeout_s=180).state is WorkflowState.SUCCEEDED
        assert run.result("there") == late.node_id
    finally:
        orchestrator.shutdown()
