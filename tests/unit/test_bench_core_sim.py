"""The core benchmark's random DAGs and simulated runtime, and instance compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.core_sim import (
    MAX_DEPS,
    WINDOW,
    build_spec,
    random_dag,
    simulate,
    simulate_makespan,
)
from benchmarks.workflows import compact_instance
from orchestrator.core import Priority, TaskGraph, TaskSpec, WorkflowSpec
from orchestrator.wfformat import load_wfformat

DATA = Path(__file__).resolve().parent.parent / "data" / "wfformat"


def test_random_dag_is_the_same_for_the_same_seed() -> None:
    assert random_dag(500, seed=7) == random_dag(500, seed=7)


def test_random_dag_differs_between_seeds() -> None:
    assert random_dag(500, seed=7) != random_dag(500, seed=8)


def test_random_dag_draws_few_recent_dependencies_and_mixed_priorities() -> None:
    dag = random_dag(2_000, seed=1)
    assert [task.id for task in dag] == [f"t{i}" for i in range(2_000)]
    for index, task in enumerate(dag):
        deps = [int(dep[1:]) for dep in task.depends_on]
        assert len(deps) <= MAX_DEPS
        assert len(set(deps)) == len(deps)
        assert all(index - WINDOW <= dep < index for dep in deps)
    assert {task.priority for task in dag} == set(Priority)
    # Wide and long at once: many roots, but also long chains.
    assert sum(not task.depends_on for task in dag) > 100
    graph = TaskGraph()
    for task in dag:
        graph.add(task.id, task.depends_on)
    assert graph.problems() == []
    assert len(graph.critical_path({task.id: 1.0 for task in dag}).nodes) > 20


def test_random_dag_edge_cases() -> None:
    assert random_dag(0) == []
    assert random_dag(1)[0].depends_on == ()
    with pytest.raises(ValueError, match="num_tasks"):
        random_dag(-1)


def test_build_spec_keeps_ids_dependencies_and_priorities() -> None:
    dag = random_dag(50, seed=3)
    spec = build_spec(dag, workflow_id="wf-1")
    assert spec.id == "wf-1"
    assert [(t.id, t.depends_on, t.priority) for t in spec.tasks] == [
        (d.id, d.depends_on, d.priority) for d in dag
    ]


def test_simulation_runs_every_task_once_to_the_end() -> None:
    run = simulate(build_spec(random_dag(300, seed=5)), slots=8, task_s=0.1)
    assert run.tasks == run.dispatched == run.calls == 300
    # 8 slots, 0.1 s each: at least 300 / 8 rounds of 0.1 s of fake time.
    assert run.rounds >= 300 / 8
    assert run.makespan_s == pytest.approx(run.rounds * 0.1)
    assert run.total_s == run.submit_s + run.schedule_s > 0


def test_compact_instance_keeps_what_the_importer_reads() -> None:
    document = json.loads((DATA / "srasearch-wfcommons-1.6.json").read_text())
    compact = compact_instance(document)
    assert len(json.dumps(compact)) < len(json.dumps(document))
    assert "files" not in compact["workflow"]["specification"]
    full_spec = load_wfformat(document, time_scale=0.5)
    compact_spec = load_wfformat(compact, time_scale=0.5)
    assert compact_spec.name == full_spec.name
    assert [(t.id, set(t.depends_on), t.args, t.resources) for t in compact_spec.tasks] == [
        (t.id, set(t.depends_on), t.args, t.resources) for t in full_spec.tasks
    ]


def _timed_workflow(*tasks: tuple[str, float, tuple[str, ...]]) -> WorkflowSpec:
    return WorkflowSpec(
        name="timed",
        tasks=tuple(
            TaskSpec(id=task_id, function="m:f", depends_on=deps, estimated_duration_s=duration)
            for task_id, duration, deps in tasks
        ),
    )


@pytest.mark.parametrize(
    ("tasks", "slots", "expected_s"),
    [
        # A chain cannot go faster than its length.
        ([("a", 1.0, ()), ("b", 2.0, ("a",)), ("c", 0.5, ("b",))], 4, 3.5),
        # Eight 1-s tasks on 4 slots: two waves.
        ([(f"t{i}", 1.0, ()) for i in range(8)], 4, 2.0),
        # A diamond: the long branch sets the pace.
        ([("a", 1.0, ()), ("b", 3.0, ("a",)), ("c", 1.0, ("a",)), ("d", 1.0, ("b", "c"))], 2, 5.0),
    ],
)
def test_simulate_makespan_of_small_graphs(
    tasks: list[tuple[str, float, tuple[str, ...]]], slots: int, expected_s: float
) -> None:
    assert simulate_makespan(_timed_workflow(*tasks), slots=slots) == pytest.approx(expected_s)


def test_simulated_policy_favours_the_long_chain() -> None:
    # One slot is free while a long chain and short independent tasks wait: ranking by
    # critical path starts the chain first and finishes at the chain's length.
    chain = [("c0", 1.0, ())] + [(f"c{i}", 1.0, (f"c{i - 1}",)) for i in range(1, 4)]
    shorts = [(f"s{i}", 1.0, ()) for i in range(4)]
    spec = _timed_workflow(*shorts, *chain)
    assert simulate_makespan(spec, slots=2) == pytest.approx(4.0)


def _core_samples(totals: dict[int, float]) -> dict[str, dict[str, list[float]]]:
    return {
        str(size): {
            "build_s": [total / 2],
            "submit_s": [total / 2],
            "schedule_s": [total / 2],
            "total_s": [total],
            "edges": [1.5 * size],
            "dispatched": [float(size)],
            "queued_bytes": [500.0 * size],
            "spec_bytes": [900.0 * size],
        }
        for size, total in totals.items()
    }


def test_core_targets_hold_each_size_to_its_goal_and_growth_to_n_log_n() -> None:
    from benchmarks.common import BenchmarkResult
    from benchmarks.core_sim import _tables

    # 1M within 20 s but growing far faster than n log n from 100k.
    totals = {1_000: 0.005, 10_000: 0.05, 100_000: 0.5, 1_000_000: 19.0}
    result = BenchmarkResult(name="core", title="t")
    _tables(result, tuple(totals), _core_samples(totals))
    met = {check.name: check.met for check in result.targets}
    assert met["100,000-task DAG validated and fully scheduled (simulation)"] is True
    assert met["1,000,000-task DAG validated and fully scheduled (simulation)"] is True
    assert met["cost growth with size (log-log slope over all sizes)"] is False
    quick = {1_000: 0.01, 10_000: 0.1}
    result = BenchmarkResult(name="core", title="t")
    _tables(result, tuple(quick), _core_samples(quick))
    assert [check.met for check in result.targets] == [None, None, True]
