"""Fair sharing through the scheduler: workflows and tenants share a pool by weight.

One agent pool of one replica, tasks of 1 s (so neither batched nor pipelined: each
dispatch is one decision of the ready queue), on the fake clock.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.core import SchedulerConfig
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.specs import WorkflowSpec
from orchestrator.durable.spec_codec import decode, encode
from orchestrator.loader import workflow_from_mapping
from orchestrator.workflow import Workflow


def _workflow(spec: Any, workflow_id: str, tasks: int, **fields: Any) -> WorkflowSpec:
    priority = fields.pop("priority", "medium")
    built = spec.workflow(
        *(spec.task(f"t{index}", priority=priority) for index in range(tasks)),
        workflow_id=workflow_id,
    )
    copy: WorkflowSpec = built.model_copy(update=fields)
    return copy


def _order(sim: Any) -> list[str]:
    return [order.workflow_id for _, _, order in sim.ledger.attempts]


def _finished_s(sim: Any, workflow_id: str) -> float:
    done: list[float] = [t for (w, _), t in sim.ledger.success_s.items() if w == workflow_id]
    return max(done)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        # a's first task starts alone (b is not submitted yet): b joins at a's virtual
        # time, with no credit for it, then they share
        ({"a": 1.0, "b": 1.0}, "aabababab"),
        ({"a": 3.0, "b": 1.0}, "aabaaabaaab"),
        ({"a": 1.0, "b": 0.5}, "aabaabaab"),
    ],
)
def test_workflows_of_one_priority_share_the_agent_by_weight(
    spec: Any, make_sim: Any, weights: dict[str, float], expected: str
) -> None:
    sim = make_sim(SchedulerConfig(fair_burst_s=0.0), duration_s=1.0)  # strict WFQ
    for name, weight in weights.items():
        sim.submit(_workflow(spec, name, 50, weight=weight))
    sim.run(until_s=sim.clock.now_s() + len(expected) - 0.5)
    assert "".join(_order(sim)) == expected


def test_a_small_workflow_beside_a_big_one_is_not_starved(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    start_s = sim.clock.now_s()
    sim.submit(_workflow(spec, "big", 1_000))
    sim.at(start_s + 100.0, lambda: sim.submit(_workflow(spec, "small", 10)))
    sim.run(until_s=start_s + 200.0)
    # Alone it would take 10 s; beside the big one it gets half the agent: about 20 s
    # (before: all 900 ready tasks of the big one first, 900 s)
    assert _finished_s(sim, "small") - (start_s + 100.0) <= 21.0


def test_a_tenant_with_many_workflows_gets_no_more_than_its_share(spec: Any, make_sim: Any) -> None:
    sim = make_sim(config=SchedulerConfig(tenant_weights={"y": 2.0}), duration_s=1.0)
    for index in range(4):
        sim.submit(_workflow(spec, f"x{index}", 100, tenant="x"))
    sim.submit(_workflow(spec, "y0", 100, tenant="y"))
    sim.run(until_s=sim.clock.now_s() + 90.5)
    per_tenant = Counter(workflow_id[0] for workflow_id in _order(sim))
    # y weighs 2, x (four workflows) 1: y gets two thirds of the dispatches
    assert sum(per_tenant.values()) >= 90 and abs(per_tenant["y"] - 2 * per_tenant["x"]) <= 3
    # x's workflows share x's part equally (x0 ran once alone before the others came)
    per_workflow = Counter(w for w in _order(sim) if w.startswith("x"))
    assert max(per_workflow.values()) - min(per_workflow.values()) <= 2


def test_priority_and_deadlines_still_go_before_fairness(spec: Any, make_sim: Any) -> None:
    sim = make_sim(duration_s=1.0)
    sim.submit(_workflow(spec, "busy", 3))  # takes the agent first
    sim.submit(_workflow(spec, "low", 3, priority="low", weight=100.0))
    sim.submit(_workflow(spec, "high", 3, priority="high"))
    sim.run()
    assert _order(sim) == ["busy"] + ["high"] * 3 + ["busy"] * 2 + ["low"] * 3


def test_a_single_workflow_runs_in_critical_path_order(spec: Any, make_sim: Any) -> None:
    # a -> b -> c is the long chain; x and y are alone: a goes first though submitted last
    tasks = [
        spec.task("x"),
        spec.task("y"),
        *spec.chain("a", "b", "c"),
    ]
    sim = make_sim(duration_s=1.0)
    sim.submit(spec.workflow(*tasks))
    sim.run()
    assert sim.ledger.execution_order()[0] == "a"


def test_weight_reaches_the_scheduler_from_files_python_and_the_journal() -> None:
    document = {"name": "w", "weight": 2.5, "tasks": [{"id": "t", "function": "math:sqrt"}]}
    from_file = workflow_from_mapping(document)
    assert from_file.weight == 2.5
    python = Workflow("w", tenant="team", weight=4.0)
    python.task("t", "math:sqrt", args=(4.0,))
    packed = PackedWorkflow.pack(python.to_spec("w-1"))
    assert (packed.tenant, packed.weight) == ("team", 4.0)
    assert decode(*encode(packed)).weight == 4.0


@pytest.mark.parametrize("weight", [0, -1.0, float("inf"), float("nan")])
def test_a_bad_weight_is_refused_naming_the_field(weight: float) -> None:
    document = {"name": "w", "weight": weight, "tasks": [{"id": "t", "function": "math:sqrt"}]}
    with pytest.raises(WorkflowRejectedError, match="weight"):
        workflow_from_mapping(document)
    with pytest.raises(WorkflowRejectedError, match="weight"):
        Workflow("w", weight=weight).to_spec()


def test_a_bad_tenant_weight_is_refused_naming_the_tenant() -> None:
    with pytest.raises(ValidationError, match=r"tenant_weights\.team"):
        SchedulerConfig(tenant_weights={"team": 0.0})


def test_a_file_workflow_carries_weight_through_a_real_file(tmp_path: Path) -> None:
    from orchestrator.loader import load_workflow_file

    path = tmp_path / "wf.yaml"
    path.write_text("name: w\nweight: 3\ntenant: t1\ntasks:\n  - id: a\n    function: math:sqrt\n")
    spec = load_workflow_file(path)
    assert (spec.weight, spec.tenant) == (3.0, "t1")


@pytest.mark.parametrize(
    ("burst_s", "first", "small_done_s"),
    [
        (0.0, "bsbsbs", 20.0),  # strict fair queuing: it alternates from the start
        (3.0, "sssbsb", 17.0),  # three tasks' worth ahead, then it alternates
        (20.0, "ssssss", 10.0),  # more than all its work: it runs as if alone
    ],
)
def test_a_newcomer_runs_its_burst_ahead_then_shares(
    spec: Any, make_sim: Any, burst_s: float, first: str, small_done_s: float
) -> None:
    # Given a big workflow that has run alone for 100 s (1 s tasks, one agent; no
    # prefetching, so that no task of it was sent ahead before the newcomer came)
    sim = make_sim(SchedulerConfig(fair_burst_s=burst_s, prefetch_window_s=0), duration_s=1.0)
    start_s = sim.clock.now_s()
    sim.submit(_workflow(spec, "big", 1_000))
    sim.at(start_s + 100.0, lambda: sim.submit(_workflow(spec, "small", 10)))
    sim.run(until_s=start_s + 130.0)
    # When a 10-task workflow arrives, Then it takes `burst_s` of work ahead, then shares
    after = [o.workflow_id[0] for t, _, o in sim.ledger.attempts if t >= start_s + 99.5]
    assert "".join(after[: len(first)]) == first
    assert _finished_s(sim, "small") - start_s - 100.0 == pytest.approx(small_done_s)


def test_arriving_late_earns_one_burst_not_the_time_since_the_queue_started(
    spec: Any, make_sim: Any
) -> None:
    # A workflow arriving after 500 s starts one burst ahead of those waiting: the time
    # before it came is no credit. (No prefetching: no task sent ahead before it came.)
    sim = make_sim(SchedulerConfig(fair_burst_s=2.0, prefetch_window_s=0), duration_s=1.0)
    start_s = sim.clock.now_s()
    sim.submit(_workflow(spec, "big", 1_000))
    sim.at(start_s + 10.0, lambda: sim.submit(_workflow(spec, "early", 1)))
    sim.at(start_s + 500.0, lambda: sim.submit(_workflow(spec, "later", 10)))
    sim.run(until_s=start_s + 530.0)
    after = [o.workflow_id[0] for t, _, o in sim.ledger.attempts if t >= start_s + 499.5]
    assert "".join(after[:5]) == "llblb"  # two tasks' worth ahead, not 490 s of credit
