"""The many-nodes benchmark's report: throughput, bound ratios, supervisor CPU and targets."""

from __future__ import annotations

import math
from typing import Any

import pytest

from benchmarks.common import BenchmarkResult
from benchmarks.many_nodes_report import (
    DISPATCH,
    ORCHESTRATOR,
    RAY,
    net_cpu_per_task_s,
    report,
    saturation_rate,
)


def _orch(wall_s: float, tasks: int, cpu_s: float) -> dict[str, float]:
    return {
        "wall_s": wall_s,
        "tasks": tasks,
        "supervisor_cpu_s": cpu_s,
        "supervisor_submit_cpu_s": cpu_s / 10,
        "heartbeat_cpu_s": 0.01,
    }


def _data(orch_4_nodes_s: float, cpu_4_nodes_s: float) -> dict[str, Any]:
    """Two sizes, one repeat, one instance (bound 2 s on 1 slot, 0.5 s on 4)."""

    def size(orch_s: float, cpu_s: float, ray_s: float, wf_orch_s: float) -> dict[str, Any]:
        return {
            ORCHESTRATOR: {
                DISPATCH: [_orch(orch_s, 1_000, cpu_s)],
                "wf": [_orch(wf_orch_s, 100, 0.2)],
            },
            RAY: {DISPATCH: [{"wall_s": ray_s, "tasks": 1_000}], "wf": [{"wall_s": 0.6}]},
        }

    def bounds(judged: float) -> dict[str, float]:
        return {"judged_bound_s": judged, "policy_sim_s": judged * 1.02}

    return {
        "sizes": [1, 4],
        "num_tasks": 1_000,
        "repeats": 1,
        "bound_s": 0.5,
        "scale_slots": 4,
        "warm_up_tasks": 10,
        "instances": {"wf": {"bounds": {1: bounds(2.0), 4: bounds(0.5)}}},
        "samples": {
            1: size(0.5, 0.1, 1.0, 2.2),
            4: size(orch_4_nodes_s, cpu_4_nodes_s, 2.0, 0.53),
        },
        "warm_ups": {
            1: {
                ORCHESTRATOR: [
                    {"agents": 1, "supervisor_idle_cpu_per_s": 0.02, "control_on_head": 1}
                ],
                RAY: [{}],
            },
            4: {
                ORCHESTRATOR: [
                    {"agents": 4, "supervisor_idle_cpu_per_s": 0.02, "control_on_head": 1}
                ],
                RAY: [{}],
            },
        },
    }


def _report(data: dict[str, Any]) -> BenchmarkResult:
    result = BenchmarkResult(name="nodes", title="t", data=data)
    report(result)
    return result


def test_the_report_scales_throughput_bounds_and_supervisor_cost_with_nodes() -> None:
    # Given 4 nodes where the orchestrator is faster than on 1 and the supervisor costs
    # the same per task
    result = _report(_data(orch_4_nodes_s=0.25, cpu_4_nodes_s=0.1))
    dispatch, bounds, cpu, _ = result.tables
    # Then throughput and its growth are per size
    assert dispatch.rows[1][:6] == [4, 4_000.0, 2.0, 500.0, 0.5, 8.0]
    # And each instance is judged against its own size's bound
    assert bounds.rows[1][:7] == [
        "wf",
        4,
        0.5,
        pytest.approx(1.02),
        pytest.approx(1.06),
        pytest.approx(1.2),
        pytest.approx(0.53 / 0.6),
    ]
    # And the supervisor's 100 us per task saturates at 10,000 tasks/s
    row = next(r for r in cpu.rows if r[:2] == [4, DISPATCH])
    assert row[2] == pytest.approx(100.0)
    assert row[3] == pytest.approx(95.0)  # less 20 ms/s of idling for 0.25 s
    assert row[4] == pytest.approx(10.0)  # a tenth of it before submit returned
    assert row[5] == pytest.approx(10_000.0)
    assert [t.met for t in result.targets] == [True, True, True, True, True]
    notes = " ".join(result.notes)
    assert "10,000 tasks/s" in notes and "every session: yes" in notes


def test_targets_fail_when_nodes_slow_the_orchestrator_or_its_supervisor() -> None:
    # Given 4 nodes where the orchestrator is slower than plain Ray and than on 1 node,
    # and its supervisor costs twice as much per task
    result = _report(_data(orch_4_nodes_s=3.0, cpu_4_nodes_s=0.2))
    met = {t.name: t.met for t in result.targets}
    assert met["nodes: orchestrator / plain Ray tasks/s, no-ops on 4 nodes"] is False
    assert met["nodes: orchestrator no-op tasks/s, 4 nodes / 1 node"] is False
    assert met["nodes: supervisor CPU per no-op task, 4 nodes / 1 node"] is False


def test_one_size_leaves_the_growth_targets_unmeasured() -> None:
    data = _data(orch_4_nodes_s=0.25, cpu_4_nodes_s=0.1)
    data["sizes"] = [4]
    met = {t.name: t.met for t in _report(data).targets}
    assert met["nodes: orchestrator no-op tasks/s, 4 nodes / 4 nodes"] is None
    assert met["nodes: supervisor CPU per no-op task, 4 nodes / 4 nodes"] is None
    assert met["nodes: orchestrator / plain Ray tasks/s, no-ops on 4 nodes"] is True


def test_cpu_helpers() -> None:
    assert saturation_rate(0.0001) == pytest.approx(10_000.0)
    assert math.isnan(saturation_rate(0.0))
    assert math.isnan(saturation_rate(math.nan))
    run = {"supervisor_cpu_s": 0.3, "wall_s": 2.0, "tasks": 100.0}
    assert net_cpu_per_task_s(run, idle_cpu_per_s=0.05) == pytest.approx(0.002)
