"""Custom Ray resources and placement hints: declared, checked node by node, placed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.agent import Agent, TaskContext, agent_spec
from orchestrator.core import ClusterObserved, NodeCapacity, ResourceSpec, WorkflowRejectedError
from orchestrator.core.placement import ResourceLedger
from orchestrator.core.resources import ResourceVector, describe_infeasible

A100 = "accelerator_type:A100"
NODES = (
    NodeCapacity(node_id="plain", num_cpus=8, labels={"zone": "a"}),
    NodeCapacity(node_id="db", num_cpus=4, custom={"db_conn": 2}, labels={"zone": "b"}),
    NodeCapacity(node_id="a100", num_cpus=4, custom={A100: 1}, labels={"zone": "b"}),
)


def test_keys_that_are_no_field_are_custom_resources() -> None:
    spec = ResourceSpec.model_validate({"num_cpus": 0.5, A100: 1, "db_conn": 1})
    assert spec.custom == {A100: 1.0, "db_conn": 1.0}
    assert spec == ResourceSpec(num_cpus=0.5, custom={"db_conn": 1, A100: 1})
    assert hash(spec) == hash(ResourceSpec(num_cpus=0.5, custom={"db_conn": 1, A100: 1}))
    assert spec.as_vector().custom == ((A100, 1.0), ("db_conn", 1.0))
    assert spec.label() == f"cpu=0.5,gpu=0,mem=0,{A100}=1,db_conn=1"
    # A zero amount asks for nothing and does not make another pool; fractions up to 1
    assert ResourceSpec(custom={"db_conn": 0}) == ResourceSpec()
    assert ResourceSpec(custom={"slot": 0.25}).custom == {"slot": 0.25}


@pytest.mark.parametrize(
    ("data", "loc", "fragment"),
    [
        # Keys that read like a field, or that Ray keeps, are unknown fields, not resources
        ({"num_cpu": 1}, ("num_cpu",), "Extra inputs are not permitted"),
        ({"cpus": 1}, ("cpus",), "Extra inputs are not permitted"),
        ({"Memory": 1}, ("Memory",), "Extra inputs are not permitted"),
        ({"num_gpsu": 1}, ("num_gpsu",), "Extra inputs are not permitted"),
        ({"GPU": 1}, ("GPU",), "Extra inputs are not permitted"),
        ({"custom": {"memory": 1}}, ("custom",), "'memory' cannot be a custom resource name"),
        ({"db_conn": -1}, ("custom",), "custom resource 'db_conn' must be >= 0"),
        ({"db_conn": 1.5}, ("custom",), "1.5 is above 1, so must be whole"),
        ({"db_conn": 1, "custom": {"db_conn": 2}}, (), "custom resource 'db_conn' is given"),
        ({"placement": "scatter"}, ("placement",), "'pack' or 'spread'"),
        ({"node_labels": {"": "x"}}, ("node_labels",), "a node label needs a non-empty name"),
    ],
)
def test_bad_declarations_name_the_field(
    data: dict[str, Any], loc: tuple[str, ...], fragment: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        ResourceSpec.model_validate(data)
    [error] = exc.value.errors()
    assert error["loc"] == loc
    assert fragment in error["msg"]


def test_vectors_with_custom_amounts_add_subtract_and_fit() -> None:
    node = ResourceVector(4, 0, 0, (("db_conn", 2.0),))
    one = ResourceVector(1, 0, 0, (("db_conn", 1.0),))
    assert node - one == ResourceVector(3, 0, 0, (("db_conn", 1.0),))
    assert (node - one) + one == node
    assert one.fits_in(node - one)
    assert not one.fits_in(node - one - one)
    assert not ResourceVector(1, 0, 0, ((A100, 1.0),)).fits_in(node)
    assert ResourceVector(1, 0, 0, ((A100, 1.0),)).shortfalls(node) == [(A100, 1.0, 0.0)]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ResourceSpec(custom={"db_conn": 2}), None),
        (ResourceSpec(custom={"db_conn": 3}), "needs 3 db_conn but the largest node has 2"),
        (ResourceSpec(custom={"tpu": 1}), "needs 1 tpu but the largest node has 0"),
        # Each alone exists, but on different nodes: feasibility is node by node
        (
            ResourceSpec(custom={"db_conn": 1, A100: 1}),
            "no single node has all of the requested resources at once",
        ),
        (ResourceSpec(node_labels={"zone": "b"}), None),
        (
            ResourceSpec(node_labels={"zone": "c"}),
            "needs a node labelled zone=c but no node carries those labels",
        ),
        # Only the labelled nodes count: 8 CPUs exist, but not in zone b
        (
            ResourceSpec(num_cpus=8, node_labels={"zone": "b"}),
            "needs 8 CPU but the largest such node has 4",
        ),
        (
            ResourceSpec(custom={"db_conn": 1}, node_labels={"zone": "a"}),
            "needs 1 db_conn but the largest such node has 0",
        ),
    ],
)
def test_feasibility_is_checked_node_by_node(spec: ResourceSpec, expected: str | None) -> None:
    assert describe_infeasible(spec.as_vector(), NODES) == expected


def test_ledger_places_by_custom_resources_and_labels() -> None:
    ledger = ResourceLedger()
    ledger.observe(NODES)
    db = ResourceSpec(num_cpus=1, custom={"db_conn": 1}).as_vector()
    assert ledger.place("db#1", db) == "db"
    assert ledger.place("db#2", db) == "db"
    assert not ledger.can_place(db)  # both connections held
    ledger.release("db#1")
    assert ledger.can_place(db)
    zone_b = ResourceSpec(num_cpus=1, node_labels={"zone": "b"}).as_vector()
    placed = {ledger.place(f"b#{i}", zone_b) for i in range(4)}
    assert placed <= {"db", "a100"}
    assert ledger.node_of("db#2") == "db"


def test_pack_fills_one_node_and_spread_takes_turns() -> None:
    nodes = [NodeCapacity(node_id=f"n{i}", num_cpus=4) for i in range(3)]
    packed, spread = ResourceLedger(), ResourceLedger()
    packed.observe(nodes)
    spread.observe(nodes)
    pack_shape = ResourceSpec(num_cpus=1).as_vector()
    spread_shape = ResourceSpec(num_cpus=1, placement="spread").as_vector()
    assert [packed.place(f"p#{i}", pack_shape) for i in range(4)] == ["n0"] * 4
    assert [spread.place(f"s#{i}", spread_shape) for i in range(6)] == ["n0", "n1", "n2"] * 2
    # Other agents on a node make it less attractive to spread onto only through room
    spread.release("s#1")
    assert spread.place("s#9", spread_shape) == "n1"


class DbAgent(Agent):
    custom_resources = {"db_conn": 1}
    node_labels = {"zone": "b"}
    placement = "spread"

    def handle(self, ctx: TaskContext) -> None:
        return None


def test_agent_classes_declare_custom_resources_and_hints() -> None:
    spec = agent_spec(DbAgent)
    assert spec.resources.custom == {"db_conn": 1.0}
    assert spec.resources.node_labels == {"zone": "b"}
    assert spec.resources.placement == "spread"
    plain = agent_spec(DbAgent, custom_resources={}, placement="pack", node_labels={})
    assert plain.resources == ResourceSpec()


def test_submit_refuses_a_custom_resource_no_node_has(driver: Any, spec: Any) -> None:
    driver.send(ClusterObserved(nodes=NODES))
    workflow = spec.workflow(
        spec.task("ok", resources={"db_conn": 1}),
        spec.task("tpu", resources={"num_cpus": 1, "tpu": 4}),
        spec.task("far", resources={"num_cpus": 1, "node_labels": {"zone": "z"}}),
    )
    with pytest.raises(WorkflowRejectedError) as exc:
        driver.submit(workflow)
    problems = {p.where: p.message for p in exc.value.problems}
    assert "needs 4 tpu but the largest node has 0" in problems["tasks['tpu'].resources"]
    assert "no node carries those labels" in problems["tasks['far'].resources"]
    assert "tasks['ok'].resources" not in problems
    assert driver.scheduler.workflow_ids() == []


def test_agents_start_on_the_node_that_has_their_resource(driver: Any, spec: Any) -> None:
    driver.send(ClusterObserved(nodes=NODES))
    commands = driver.submit(
        spec.workflow(
            spec.task("q", resources={"num_cpus": 1, "db_conn": 1}),
            spec.task("m", resources={"num_cpus": 1, A100: 1}),
        )
    )
    placed = {c.pool.resources.label(): c.node_id for c in commands.of_start()}
    assert placed == {
        "cpu=1,gpu=0,mem=0,db_conn=1": "db",
        f"cpu=1,gpu=0,mem=0,{A100}=1": "a100",
    }
    assert sorted(commands.dispatched_ids) == ["m", "q"]
