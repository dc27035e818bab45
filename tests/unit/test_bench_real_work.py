"""The real-work benchmark's arithmetic: calibration, efficiency, task spans, CPU shares."""

from __future__ import annotations

import math
import os
from itertools import cycle

import pytest

from benchmarks.real_work import Workload, build_workloads, size_label
from benchmarks.real_work_measures import (
    calibrate,
    cpu_shares,
    efficiency,
    process_cpu_s,
    summarise_spans,
)
from benchmarks.workloads import spin


def test_calibration_finds_the_loops_of_each_duration_and_times_them() -> None:
    # A machine that runs exactly a million loop turns per second.
    calibration = calibrate([0.001, 0.01], lambda loops: loops / 1e6, runs=3)

    assert calibration.loops_per_s == pytest.approx(1e6)
    assert calibration.loops == {0.001: 1_000, 0.01: 10_000}
    assert calibration.solo_s == {0.001: pytest.approx(0.001), 0.01: pytest.approx(0.01)}
    assert calibration.samples_s[0.01] == [pytest.approx(0.01)] * 3


def test_calibration_rate_comes_from_the_fastest_probe_and_solo_time_is_the_median() -> None:
    # Given timings disturbed now and then: every third run takes twice as long
    slow_down = cycle([1.0, 2.0, 1.0])

    def timer(loops: int) -> float:
        return loops / 1e6 * next(slow_down)

    calibration = calibrate([0.01], timer, runs=3, probe_loops=100_000, probe_runs=3)

    # Then the rate is the undisturbed one, and the solo time the median of 3 timings
    assert calibration.loops_per_s == pytest.approx(1e6)
    assert calibration.loops == {0.01: 10_000}
    assert sorted(calibration.samples_s[0.01]) == [
        pytest.approx(0.01),
        pytest.approx(0.01),
        pytest.approx(0.02),
    ]
    assert calibration.solo_s[0.01] == pytest.approx(0.01)


def test_calibration_with_the_real_task_body() -> None:
    calibration = calibrate([0.001], lambda loops: spin(loops)[1], runs=3)

    assert calibration.loops[0.001] > 0
    assert calibration.solo_s[0.001] > 0


@pytest.mark.parametrize(
    ("durations", "runs", "message"),
    [
        ([0.0], 3, "every duration must be > 0 s"),
        ([0.01], 0, "runs and probe_runs must be at least 1"),
    ],
)
def test_calibration_refuses_bad_arguments(durations: list[float], runs: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibrate(durations, lambda loops: 1.0, runs=runs)


@pytest.mark.parametrize(
    ("work_s", "wall_s", "slots", "expected"),
    [(10.0, 5.0, 2, 1.0), (9.0, 5.0, 2, 0.9), (1.0, 4.0, 1, 0.25)],
)
def test_efficiency_is_work_over_wall_times_slots(
    work_s: float, wall_s: float, slots: int, expected: float
) -> None:
    assert efficiency(work_s, wall_s, slots) == pytest.approx(expected)


def test_efficiency_without_a_wall_time_is_missing() -> None:
    assert math.isnan(efficiency(1.0, 0.0, 2))
    assert math.isnan(efficiency(1.0, math.nan, 2))


def test_span_summary_adds_task_times_and_finds_the_gaps_in_each_process() -> None:
    # Given two processes: pid 1 runs tasks at 10-11 and 11.5-12.5; pid 2 at 10.2-11.2
    # and 11.3-11.8, then 12.0-12.1 (samples out of order, as results arrive)
    samples = [
        (11.5, 1.0, 0.9, 1),
        (10.0, 1.0, 1.0, 1),
        (10.2, 1.0, 1.0, 2),
        (12.0, 0.1, 0.1, 2),
        (11.3, 0.5, 0.5, 2),
    ]

    summary = summarise_spans(samples, wall_started_s=9.9)

    assert summary.tasks == 5
    assert summary.busy_s == pytest.approx(3.6)
    assert summary.cpu_s == pytest.approx(3.5)
    assert summary.median_span_s == pytest.approx(1.0)
    assert summary.processes == 2
    # Gaps: pid 1: 0.5; pid 2: 0.1 and 0.2 -> median 0.2
    assert summary.median_gap_s == pytest.approx(0.2)
    assert summary.p90_gap_s == pytest.approx(0.2)  # nearest rank below, of 3 gaps
    assert summary.first_start_s == pytest.approx(0.1)


def test_span_summary_of_one_task_has_no_gap() -> None:
    summary = summarise_spans([(1.0, 0.5, 0.5, 7)], wall_started_s=1.0)

    assert math.isnan(summary.median_gap_s)
    assert summary.first_start_s == 0.0


def test_cpu_shares_split_the_cpu_time_by_role() -> None:
    me = os.getpid()
    before = {me: ("python", 1.0), 10: ("ray::Agent", 5.0), 20: ("ray::Sup", 2.0)}
    after = {
        me: ("python", 1.5),
        10: ("ray::Agent", 9.0),
        20: ("ray::Sup", 2.25),
        30: ("raylet", 0.5),  # started in between: counts from zero
        40: ("gcs_server", 0.25),
    }

    shares = cpu_shares(before, after, task_pids={10}, supervisor_pid=20)

    assert shares["tasks"] == pytest.approx(4.0)
    assert shares["supervisor"] == pytest.approx(0.25)
    assert shares["driver"] == pytest.approx(0.5)
    assert shares["other"] == pytest.approx(0.75)
    assert shares["total"] == pytest.approx(5.5)
    assert shares["other_by_name"] == {"raylet": 0.5, "gcs_server": 0.25}


def test_process_cpu_reading_includes_this_process() -> None:
    reading = process_cpu_s()

    assert os.getpid() in reading
    assert reading[os.getpid()][1] > 0


def test_workloads_one_per_size_then_a_shuffled_mix() -> None:
    workloads = build_workloads({0.001: 4, 0.1: 2}, {0.001: 3, 0.1: 1}, seed=1)

    assert [w.label for w in workloads] == ["1 ms", "100 ms", "mix"]
    assert workloads[0].durations_s == (0.001,) * 4
    assert sorted(workloads[2].durations_s) == [0.001, 0.001, 0.001, 0.1]
    assert build_workloads({0.001: 4}, {0.001: 3, 0.1: 1}, seed=1)[-1] == workloads[2]
    assert size_label(0.01) == "10 ms"


def test_workload_task_time_uses_each_size_calibrated_solo_time() -> None:
    calibration = calibrate([0.001, 0.1], lambda loops: loops / 1e6, runs=1)
    workload = Workload("mix", (0.001, 0.1, 0.001))

    assert workload.loops(calibration) == [1_000, 100_000, 1_000]
    assert workload.work_s(calibration) == pytest.approx(0.102)


def _run(efficiency_value: float) -> dict[str, object]:
    cpu = {"tasks": 1.0, "supervisor": 0.1, "driver": 0.1, "other": 0.1, "total": 1.3}
    return {
        "wall_s": 1.0,
        "efficiency": efficiency_value,
        "busy_share": efficiency_value,
        "slowdown": 1.0,
        "median_gap_s": 0.001,
        "p90_gap_s": 0.002,
        "first_start_s": 0.01,
        "cpu_s": cpu,
    }


@pytest.mark.parametrize(
    ("orchestrator", "ray", "vs_ray_met", "at_least_met"),
    [(0.95, 0.9, True, True), (0.85, 0.9, False, False), (0.92, 0.95, False, True)],
)
def test_targets_follow_the_measured_efficiencies(
    orchestrator: float, ray: float, vs_ray_met: bool, at_least_met: bool
) -> None:
    from benchmarks.common import BenchmarkResult
    from benchmarks.real_work_report import CONTENDERS, ORCHESTRATOR, tables_targets_notes

    calibration = calibrate([0.01, 0.1], lambda loops: loops / 1e6, runs=1)
    workloads = build_workloads({0.01: 2, 0.1: 1}, {0.01: 1, 0.1: 1})
    runs = {
        name: {w.label: [_run(orchestrator if name == ORCHESTRATOR else ray)] for w in workloads}
        for name in CONTENDERS
    }
    result = BenchmarkResult(name="realwork", title="t", data={"slots": 2})

    tables_targets_notes(result, workloads, calibration, runs, "quick")

    vs_ray, at_least = result.targets
    assert (vs_ray.met, at_least.met) == (vs_ray_met, at_least_met)
    assert f"10 ms {orchestrator:.3f}" in at_least.measured
    assert len(result.tables[0].rows) == len(workloads)
