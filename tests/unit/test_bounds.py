"""Makespan lower bounds, checked against values worked out by hand."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from orchestrator.core.bounds import LowerBound, lower_bound_s, task_cores
from orchestrator.core.graph import GraphValidationError
from orchestrator.core.resources import ResourceSpec
from orchestrator.core.specs import AgentSpec, OutputOf, TaskSpec, WorkflowSpec
from orchestrator.wfformat import load_wfformat

VALID_15 = Path(__file__).resolve().parents[1] / "data" / "wfformat" / "valid-1.5.json"


def _task(
    task_id: str,
    duration_s: float | None,
    deps: tuple[str, ...] = (),
    cpus: float | None = None,
) -> TaskSpec:
    return TaskSpec(
        id=task_id,
        function="agents.simulated:simulate",
        args=(duration_s or 0.0,),
        depends_on=deps,
        resources=None if cpus is None else ResourceSpec(num_cpus=cpus),
        estimated_duration_s=duration_s,
    )


def _workflow(*tasks: TaskSpec, agents: tuple[AgentSpec, ...] = ()) -> WorkflowSpec:
    return WorkflowSpec(name="bounds", tasks=tasks, agents=agents)


def test_chain_is_bound_by_its_length() -> None:
    # a(2) -> b(3) -> c(4): nothing overlaps, so 9 s whatever the slots.
    spec = _workflow(_task("a", 2), _task("b", 3, ("a",)), _task("c", 4, ("b",)))

    bound = lower_bound_s(spec, slots=4)

    assert bound.critical_path_s == 9.0
    assert bound.critical_path == ("a", "b", "c")
    assert bound.total_work_s == 9.0
    assert bound.work_bound_s == 2.25
    assert bound.bound_s == 9.0


def test_fork_join_is_bound_by_work_when_slots_are_few() -> None:
    # fork(1) -> 4 branches of 4 s -> join(1): CP = 6 s, work = 18 CPU-s.
    branches = [_task(f"b{i}", 4, ("fork",)) for i in range(4)]
    spec = _workflow(_task("fork", 1), *branches, _task("join", 1, tuple(b.id for b in branches)))

    one = lower_bound_s(spec, slots=1)
    two = lower_bound_s(spec, slots=2)
    four = lower_bound_s(spec, slots=4)

    assert (one.critical_path_s, one.total_work_s) == (6.0, 18.0)
    assert one.bound_s == 18.0  # everything in sequence
    assert two.bound_s == 9.0  # work / 2 > critical path
    assert four.bound_s == 6.0  # critical path > 18 / 4
    assert four.critical_path[0] == "fork"
    assert four.critical_path[-1] == "join"
    assert len(four.critical_path) == 3


def test_multi_core_tasks_count_their_cores_in_the_work() -> None:
    # two independent tasks: 10 s on 4 CPUs and 10 s on 1 CPU -> 50 CPU-s.
    spec = _workflow(_task("wide", 10, cpus=4), _task("narrow", 10, cpus=1))

    bound = lower_bound_s(spec, slots=4)

    assert bound.total_work_s == 50.0
    assert bound.critical_path_s == 10.0
    assert bound.bound_s == 12.5


def test_fractional_and_zero_cpu_tasks() -> None:
    # half-CPU tasks share a slot; a 0-CPU task holds none but still sits on the chain.
    spec = _workflow(
        _task("half-1", 8, cpus=0.5),
        _task("half-2", 8, cpus=0.5),
        _task("free", 20, ("half-1",), cpus=0),
    )

    bound = lower_bound_s(spec, slots=1)

    assert bound.total_work_s == 8.0
    assert bound.critical_path_s == 28.0
    assert bound.bound_s == 28.0


def test_cores_come_from_task_then_agent_then_default() -> None:
    agent = AgentSpec(name="big", agent_class="agents.example:Big", resources={"num_cpus": 2})
    on_agent = TaskSpec(id="on-agent", agent="big", estimated_duration_s=3)
    overridden = TaskSpec(
        id="overridden", agent="big", resources={"num_cpus": 3}, estimated_duration_s=1
    )
    plain = _task("plain", 5)
    spec = _workflow(on_agent, overridden, plain, agents=(agent,))

    assert task_cores(on_agent, {"big": agent}) == 2.0
    assert task_cores(overridden, {"big": agent}) == 3.0
    assert task_cores(plain) == 1.0
    assert task_cores(plain, default_num_cpus=0.25) == 0.25
    # 3 * 2 + 1 * 3 + 5 * 1 = 14
    assert lower_bound_s(spec, slots=4).total_work_s == 14.0
    assert lower_bound_s(spec, slots=4, default_num_cpus=2).total_work_s == 19.0


def test_placeholders_count_as_dependencies() -> None:
    first = _task("first", 2)
    second = TaskSpec(
        id="second",
        function="agents.simulated:simulate",
        args=(OutputOf(output_of="first"),),
        estimated_duration_s=3,
    )

    bound = lower_bound_s(_workflow(first, second), slots=2)

    assert bound.critical_path_s == 5.0
    assert bound.critical_path == ("first", "second")


def test_tasks_without_estimate_count_as_zero_and_are_counted() -> None:
    spec = _workflow(_task("known", 4), _task("unknown", None, ("known",)))

    bound = lower_bound_s(spec, slots=2)

    assert bound.tasks_without_estimate == 1
    assert bound.critical_path_s == 4.0
    assert bound.total_work_s == 4.0


def test_bound_of_an_imported_wfformat_instance() -> None:
    # valid-1.5.json: split 10 -> align 20 (2 cores) | align 30 -> merge 5 (4 cores)
    # -> report 1, and qc 2 between split and report. At time_scale 0.5:
    # CP = (10 + 30 + 5 + 1) / 2 = 23; work = (10 + 40 + 30 + 20 + 2 + 1) / 2 = 51.5.
    spec = load_wfformat(VALID_15, time_scale=0.5)

    bound = lower_bound_s(spec, slots=4)

    assert bound.critical_path_s == 23.0
    assert bound.critical_path == (
        "split_00000001",
        "align_00000003",
        "merge_00000004",
        "report_00000006",
    )
    assert bound.total_work_s == 51.5
    assert bound.bound_s == 23.0
    # On 2 slots the 4-core merge cannot run at all, unless imported capped at 2 cores:
    # work = (10 + 40 + 30 + 10 + 2 + 1) / 2 = 46.5 CPU-s, over 2 slots 23.25 s > CP.
    with pytest.raises(ValueError, match="task 'merge_00000004' \\(4 CPUs\\) need more CPUs"):
        lower_bound_s(spec, slots=2)
    capped = lower_bound_s(load_wfformat(VALID_15, time_scale=0.5, max_cores=2), slots=2)
    assert capped.total_work_s == 46.5
    assert capped.bound_s == 23.25


def test_task_wider_than_the_slots_has_no_schedule() -> None:
    spec = _workflow(_task("wide", 1, cpus=8), _task("ok", 1))

    with pytest.raises(
        ValueError, match=r"no schedule on 4 slot\(s\) exists: task 'wide' \(8 CPUs\)"
    ):
        lower_bound_s(spec, slots=4)


@pytest.mark.parametrize("slots", [0, -1, 1.5, True])
def test_slots_must_be_a_positive_whole_number(slots: object) -> None:
    spec = _workflow(_task("a", 1))

    with pytest.raises(ValueError, match="slots must be a whole number >= 1"):
        lower_bound_s(spec, slots=slots)  # type: ignore[arg-type]


def test_cyclic_graph_is_refused() -> None:
    spec = _workflow(_task("a", 1, ("b",)), _task("b", 1, ("a",)))

    with pytest.raises(GraphValidationError, match="dependency cycle"):
        lower_bound_s(spec, slots=1)


def test_lower_bound_value_object() -> None:
    bound = LowerBound(critical_path_s=3.0, total_work_s=10.0, slots=2)

    assert bound.bound_s == 5.0
    assert bound.ratio(6.0) == 1.2
    assert LowerBound(0.0, 0.0, 1).ratio(0.5) == math.inf
    assert LowerBound(0.0, 0.0, 1).ratio(0.0) == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        bound.slots = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="slots must be at least 1"):
        LowerBound(critical_path_s=1.0, total_work_s=1.0, slots=0)


def test_many_tasks_wider_than_the_slots_are_summarised() -> None:
    spec = _workflow(*(_task(f"wide-{i}", 1, cpus=3) for i in range(7)))

    with pytest.raises(ValueError) as caught:
        lower_bound_s(spec, slots=2)

    assert str(caught.value) == (
        "no schedule on 2 slot(s) exists: tasks 'wide-0' (3 CPUs), 'wide-1' (3 CPUs), "
        "'wide-2' (3 CPUs), 'wide-3' (3 CPUs), 'wide-4' (3 CPUs) and 2 more need more CPUs "
        "than that"
    )


def test_a_long_root_task_raises_the_staged_bound() -> None:
    # One 878 s task every other waits for, then 100 tasks of 1.79 s on 4 slots: the best
    # schedule runs the root alone, then 25 rounds of 4 (878 + 44.75 s).
    children = [_task(f"c{i}", 1.79, ("root",)) for i in range(100)]
    bound = lower_bound_s(_workflow(_task("root", 878.0), *children), slots=4)
    assert bound.bound_s == pytest.approx(879.79)  # the classic one misses the wait
    assert bound.staged_bound_s == pytest.approx(922.75)
    assert bound.tight_bound_s == pytest.approx(922.75)
    assert bound.tight_ratio(922.75 * 1.1) == pytest.approx(1.1)


def test_a_long_last_task_raises_the_staged_bound_from_the_end() -> None:
    # The mirror image: 100 parallel tasks, then one long task that waits for them all.
    parents = [_task(f"p{i}", 1.79) for i in range(100)]
    sink = _task("sink", 878.0, tuple(f"p{i}" for i in range(100)))
    bound = lower_bound_s(_workflow(*parents, sink), slots=4)
    assert bound.staged_bound_s == pytest.approx(922.75)


def test_the_staged_bound_never_exceeds_what_the_scheduler_reaches() -> None:
    # Whatever the DAG, a real schedule (the scheduler's own, on a fake clock) is no
    # faster than any lower bound.
    from benchmarks.core_sim import simulate_makespan

    for seed in range(5):
        tasks = []
        for index in range(40):
            deps = tuple(f"t{d}" for d in range(max(0, index - 3), index) if (seed + d) % 3)
            tasks.append(_task(f"t{index}", float((index * 7 + seed) % 5 + 1), deps))
        spec = _workflow(*tasks)
        bound = lower_bound_s(spec, slots=3)
        makespan = simulate_makespan(spec, slots=3)
        assert bound.staged_bound_s <= makespan + 1e-9
        assert bound.tight_bound_s >= bound.bound_s
