"""What the engines know: the estimate modes and the baselines' rank order and priorities."""

from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from benchmarks.baselines.common import dask_priorities, estimated_ranks_s, plan, rank_order
from benchmarks.workflows_instances import ensure_instance, multi_core_document
from benchmarks.workflows_modes import (
    EXACT,
    NOISE_SIGMA,
    NOISY,
    NONE,
    mode_spec,
    noisy_estimates,
    simulate_policy_s,
    true_durations_s,
    without_estimates,
)
from orchestrator.core.bounds import task_cores
from orchestrator.core.specs import TaskSpec, WorkflowSpec
from orchestrator.wfformat import load_wfformat

SLOTS = 4
GENOME = load_wfformat(ensure_instance("genome", 100), time_scale=0.01, max_cores=SLOTS)


def _spec(*tasks: tuple[str, float | None, tuple[str, ...]]) -> WorkflowSpec:
    return WorkflowSpec(
        name="w",
        tasks=tuple(
            TaskSpec(id=task_id, function="operator:add", estimated_duration_s=est, depends_on=deps)
            for task_id, est, deps in tasks
        ),
    )


# -- estimate modes ----------------------------------------------------------------------


def test_noisy_estimates_are_seeded_and_log_normal_around_the_truth() -> None:
    first = noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed="42:genome-100")
    again = noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed="42:genome-100")
    other = noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed="42:montage-100")

    assert first == again
    assert first != other
    logs = [
        math.log(noisy.estimated_duration_s / exact.estimated_duration_s)  # type: ignore[operator]
        for noisy, exact in zip(first.tasks, GENOME.tasks, strict=True)
    ]
    # 98 draws of N(0, 0.5): mean within ~3 standard errors of 0, spread near 0.5
    assert abs(statistics.fmean(logs)) < 3 * NOISE_SIGMA / math.sqrt(len(logs))
    assert 0.35 < statistics.stdev(logs) < 0.65
    # Only the estimates change: what the tasks run, their order and the exact spec
    for noisy, exact in zip(first.tasks, GENOME.tasks, strict=True):
        assert (
            noisy.model_copy(update={"estimated_duration_s": exact.estimated_duration_s}) == exact
        )
    assert noisy_estimates(GENOME, sigma=0.0, seed=1) == GENOME
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        noisy_estimates(GENOME, sigma=-0.1, seed=1)


def test_modes_are_built_from_the_one_exact_import() -> None:
    assert mode_spec(GENOME, EXACT, seed=1) is GENOME
    none = mode_spec(GENOME, NONE, seed=1)
    assert none == without_estimates(GENOME)
    assert {task.estimated_duration_s for task in none.tasks} == {None}
    assert [task.args for task in none.tasks] == [task.args for task in GENOME.tasks]
    assert mode_spec(GENOME, NOISY, seed=7) == noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed=7)
    with pytest.raises(ValueError, match="unknown mode 'psychic'"):
        mode_spec(GENOME, "psychic", seed=1)


def test_the_policy_simulation_runs_true_durations_whatever_the_scheduler_knows() -> None:
    durations = true_durations_s(GENOME)
    exact_s = simulate_policy_s(GENOME, durations, slots=SLOTS)
    blind_s = simulate_policy_s(without_estimates(GENOME), durations, slots=SLOTS)
    # Without estimates the tasks still take their true time: not a zero makespan
    work_s = sum(durations.values()) / SLOTS
    assert exact_s >= work_s and blind_s >= work_s


def test_the_multi_core_variant_puts_two_cores_on_the_chosen_categories() -> None:
    path = ensure_instance("genome", 100)
    document = multi_core_document(path, ("frequency",), 2)
    spec = load_wfformat(document, max_cores=SLOTS)

    two_core = {task.id for task in spec.tasks if task_cores(task) == 2}
    assert two_core and all(task_id.startswith("frequency_") for task_id in two_core)
    assert all(task_cores(task) == 1 for task in spec.tasks if task.id not in two_core)
    with pytest.raises(ValueError, match=r"no task of genome-100-seed42\.json belongs"):
        multi_core_document(path, ("no-such-category",), 2)


# -- ranks for the baselines ---------------------------------------------------------------


def test_ranks_are_the_longest_chain_of_estimates_to_the_end() -> None:
    spec = _spec(("a", 1.0, ()), ("b", 5.0, ("a",)), ("c", 2.0, ("a",)), ("d", None, ("b", "c")))

    assert estimated_ranks_s(spec) == {"a": 6.0, "b": 5.0, "c": 2.0, "d": 0.0}
    assert estimated_ranks_s(without_estimates(spec)) is None


def test_rank_order_is_topological_and_takes_the_highest_ready_rank_first() -> None:
    # Two chains: short s1 -> s2 listed first, long l1 -> l2 -> l3 after; j joins them
    spec = _spec(
        ("s1", 0.5, ()),
        ("s2", 0.5, ("s1",)),
        ("l1", 2.0, ()),
        ("l2", 2.0, ("l1",)),
        ("l3", 2.0, ("l2",)),
        ("j", 1.0, ("s2", "l3")),
    )
    ranks = estimated_ranks_s(spec)
    assert ranks == {"s1": 2.0, "s2": 1.5, "l1": 7.0, "l2": 5.0, "l3": 3.0, "j": 1.0}

    order = [task.id for task in rank_order(plan(spec, SLOTS), ranks)]

    assert order == ["l1", "l2", "l3", "s1", "s2", "j"]
    assert [task.id for task in rank_order(plan(spec, SLOTS), dict.fromkeys(ranks, 0.0))] == [
        task.id for task in plan(spec, SLOTS)
    ]  # equal ranks keep the given order


def test_rank_order_of_a_real_instance_respects_every_dependency() -> None:
    noisy = noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed=3)
    ranks = estimated_ranks_s(noisy)
    assert ranks is not None

    order = rank_order(plan(noisy, SLOTS), ranks)

    position = {task.id: index for index, task in enumerate(order)}
    assert sorted(position) == sorted(task.id for task in GENOME.tasks)
    for task in order:
        assert all(position[dep] < position[task.id] for dep in task.depends_on)
    roots = [task for task in order if not task.depends_on]
    assert order[0] is max(roots, key=lambda task: ranks[task.id])


def test_rank_order_refuses_a_cycle() -> None:
    tasks = plan(_spec(("a", 1.0, ())), SLOTS)
    looped = [dataclasses.replace(tasks[0], depends_on=("a",))]
    with pytest.raises(ValueError, match="form a cycle"):
        rank_order(looped, {"a": 1.0})


def test_dask_priorities_increase_with_rank() -> None:
    ranks = estimated_ranks_s(noisy_estimates(GENOME, sigma=NOISE_SIGMA, seed=5))
    assert ranks is not None

    priorities = dask_priorities(ranks)

    assert all(isinstance(value, int) for value in priorities.values())
    by_rank = sorted(ranks, key=ranks.__getitem__)
    assert [priorities[task_id] for task_id in by_rank] == sorted(priorities.values())
    assert dask_priorities({"low": 0.001, "high": 0.002}) == {"low": 1000, "high": 2000}
