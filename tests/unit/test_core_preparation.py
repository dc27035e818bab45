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
