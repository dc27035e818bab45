"""`admission.prepare`: the part of admission a runtime may run in another thread."""

from __future__ import annotations

import pytest

from orchestrator.core import WorkflowSubmitted
from orchestrator.core.admission import prepare
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow
from orchestrator.testing import Driver, SpecBuilder


def test_a_preparation_made_beforehand_is_the_one_admission_uses(spec: SpecBuilder) -> None:
    packed = PackedWorkflow.pack(spec.workflow(*spec.chain("a", "b", "c")))
    prepared = prepare(packed, rank_by_critical_path=True)
    assert prepared.problems == ()
    assert prepared.ranks == {"a": 1.0, "b": pytest.approx(2 / 3), "c": pytest.approx(1 / 3)}
    driver = Driver()
    commands = driver.send(WorkflowSubmitted(workflow=packed, prepared=prepared))
    assert commands.dispatched_ids == ["a"]
    # the graph admission keeps is the prepared one
    assert driver.scheduler.workflow_status("wf").total == 3


def test_a_preparation_of_another_workflow_is_ignored(spec: SpecBuilder) -> None:
    good = PackedWorkflow.pack(spec.workflow(*spec.chain("a", "b")))
    cyclic = spec.workflow(
        spec.task("x", depends_on=["y"]), spec.task("y", depends_on=["x"]), workflow_id="wf2"
    )
    packed_cyclic = PackedWorkflow.pack(cyclic)
    # A preparation made for `good` cannot smuggle `cyclic` past validation
    with pytest.raises(WorkflowRejectedError, match="cycle"):
        Driver().send(WorkflowSubmitted(workflow=packed_cyclic, prepared=prepare(good, True)))


def test_problems_found_while_preparing_refuse_the_workflow(spec: SpecBuilder) -> None:
    packed = PackedWorkflow.pack(spec.workflow(spec.task("a", depends_on=["missing"])))
    prepared = prepare(packed, rank_by_critical_path=True)
    assert prepared.problems and prepared.ranks == {}
    with pytest.raises(WorkflowRejectedError, match="missing"):
        Driver().send(WorkflowSubmitted(workflow=packed, prepared=prepared))


def test_tasks_placed_beforehand_are_used_only_if_placed_with_the_schedulers_settings(
    spec: SpecBuilder,
) -> None:
    from orchestrator.core import ResourceSpec, SchedulerConfig

    workflow = spec.workflow(spec.task("a", function="pkg.mod:work"))
    packed = PackedWorkflow.pack(workflow)
    small = SchedulerConfig(default_function_resources=ResourceSpec(num_cpus=0.5))
    prepared = prepare(packed, True, config=small)
    assert prepared.placement is not None
    (key,) = prepared.placement.pools
    assert prepared.placement.pools[key].resources.num_cpus == 0.5
    # Given a scheduler whose function tasks take 2 CPUs, on a node of 1 CPU
    driver = Driver(SchedulerConfig(default_function_resources=ResourceSpec(num_cpus=2.0)))
    driver.send(spec.nodes(1.0))
    # Then the preparation's placement (half a CPU) is not used: the task cannot fit
    with pytest.raises(WorkflowRejectedError, match="cannot run on this cluster"):
        driver.send(WorkflowSubmitted(workflow=packed, prepared=prepared))
    # And with the same settings as the preparation's, it is
    fitting = Driver(small)
    fitting.send(spec.nodes(1.0))
    assert fitting.send(WorkflowSubmitted(workflow=packed, prepared=prepared)).dispatched_ids == [
        "a"
    ]
