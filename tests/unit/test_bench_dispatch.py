"""The dispatch benchmark's pure parts: its runs, the batched baseline, its report."""

from __future__ import annotations

import math

from benchmarks.common import BenchmarkResult
from benchmarks.dispatch import (
    CONTENDERS,
    FETCHED,
    NOT_FETCHED,
    ORCHESTRATOR,
    ORCHESTRATOR_COLD,
    ORCHESTRATOR_TRACED,
    RAY_BATCHES,
    RAY_CONTENDERS,
    RAY_TASKS,
    RUNS,
    _report,
    noop_batch,
)


def test_every_ray_contender_runs_fetching_and_not_and_each_orchestrator_once() -> None:
    runs = list(RUNS.values())
    for name in RAY_CONTENDERS:
        assert (name, True) in runs and (name, False) in runs
    for name in set(CONTENDERS) - set(RAY_CONTENDERS):
        assert [run for run in runs if run[0] == name] == [(name, True)]


def test_a_batch_runs_and_returns_one_result_per_no_op() -> None:
    assert noop_batch(64) == [None] * 64
    assert noop_batch(0) == []


def _samples(orchestrator_s: float, batches_s: float) -> dict[str, list[dict[str, float]]]:
    walls = dict.fromkeys(CONTENDERS, 2.0)
    walls[ORCHESTRATOR] = orchestrator_s
    walls[RAY_BATCHES] = batches_s
    return {name: [{FETCHED: wall, NOT_FETCHED: wall / 2}] for name, wall in walls.items()}


def test_the_targets_compare_fetching_walls_and_can_fail() -> None:
    # Given an orchestrator twice as fast as Ray tasks but slower than the batches
    result = BenchmarkResult("dispatch", "t")
    _report(result, 1_000, _samples(orchestrator_s=1.0, batches_s=0.5), spans=0)
    # Then it meets the first target and misses the second, saying by how much
    by_baseline = {target.name.split(" / ")[1]: target for target in result.targets}
    plain, batched = (
        by_baseline["plain Ray tasks (tasks/s)"],
        by_baseline["Ray tasks in batches of 64 (tasks/s)"],
    )
    assert (plain.met, plain.measured) == (True, "2.00 (cold agents: 1.00)")
    assert (batched.met, batched.measured) == (False, "0.50 (cold agents: 0.25)")


def test_tracing_is_reported_against_tracing_off_and_missing_runs_stay_visible() -> None:
    samples = _samples(orchestrator_s=1.0, batches_s=0.5)
    samples[ORCHESTRATOR_TRACED] = [{FETCHED: 4.0, NOT_FETCHED: 2.0}]
    samples[ORCHESTRATOR_COLD] = []
    samples[RAY_TASKS] = []
    result = BenchmarkResult("dispatch", "t")
    _report(result, 1_000, samples, spans=10)
    tracing = next(table for table in result.tables if table.title.startswith("Tracing"))
    assert tracing.rows[0] == ["fetching", 1_000.0, 250.0, 0.25]
    plain = next(t for t in result.targets if "plain Ray" in t.name)
    assert plain.met is None and math.isnan(float(plain.measured.split()[0]))
