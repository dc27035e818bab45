"""The workflows benchmark's report: every mode judged against the tight bound and its sim."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks.common import BenchmarkResult
from benchmarks.workflows import DASK, ORCHESTRATOR, RAY, Instance, session_plan
from benchmarks.workflows_modes import MODES
from benchmarks.workflows_report import report


def _instance(label: str, bound_s: float, tight_bound_s: float) -> Instance:
    spec: Any = SimpleNamespace(tasks=[object()] * 10)
    return Instance(label, spec, 1.0, 9, 2.0, 1.5, bound_s, 2.4, 2.6, tight_bound_s)


def test_every_mode_is_judged_against_the_tighter_bound_and_its_own_simulation() -> None:
    # Given one instance whose staged bound (2.5 s) is above the classic one (2.0 s)
    long_root = _instance("long-root", 2.0, 2.5)
    plain = _instance("plain", 2.0, 1.0)  # the classic bound is the tighter one here
    labels = ("long-root", "plain")
    walls = {
        mode: {label: {ORCHESTRATOR: [2.75], RAY: [3.0], DASK: [3.25]} for label in labels}
        for mode in MODES
    }
    policy_s = {mode: {"long-root": 2.5, "plain": 2.7} for mode in MODES}
    result = BenchmarkResult(name="workflows", title="t")

    report(result, [long_root, plain], policy_s, walls)

    # Then the instances table shows both bounds, and each mode's table judges against
    # the tighter one and against that mode's simulation
    bounds = {row[0]: row for row in result.tables[0].rows}
    assert bounds["long-root"][7:9] == [2.0, 2.5]
    assert bounds["long-root"][9] == pytest.approx(2.4 / 2.5)  # exact policy sim / bound
    exact = {row[0]: row for row in result.tables[2].rows}
    assert exact["long-root"][1] == pytest.approx(2.75 / 2.5)
    assert exact["plain"][1] == pytest.approx(2.75 / 2.0)
    assert exact["plain"][4] == pytest.approx(2.75 / 3.0)  # orch / ray
    assert exact["plain"][7] == pytest.approx(2.75 / 2.7)  # orch / policy sim
    # The summary says what the policy alone would reach against Ray (no runtime cost):
    # geomean of 2.5 / 3.0 and 2.7 / 3.0, worst 0.90
    summary = {row[0]: row for row in result.tables[1].rows}
    expected = ((2.5 / 3.0) * (2.7 / 3.0)) ** 0.5
    assert summary["exact"][-1] == f"{expected:.2f} (0.90)"
    # Five targets per mode; plain is over 1.10x its bound, the sim gap is over 2%
    assert len(result.targets) == 5 * len(MODES)
    by_name = {target.name: target for target in result.targets}
    assert by_name["[none] orchestrator wall / tight bound, every instance"].met is False
    assert by_name["[none] orchestrator / plain Ray wall time, every instance"].met is True
    assert by_name["[none] orchestrator / plain Ray wall time, geomean"].met is True
    gap = by_name["[noisy] orchestrator / its policy's simulation, geomean (gap < 2%)"]
    assert gap.met is False and "worst 1.100 (long-root)" in gap.measured


def test_a_mode_that_could_not_be_measured_leaves_its_targets_unknown() -> None:
    inst = _instance("a", 2.0, 2.0)
    walls: dict[str, dict[str, dict[str, list[float]]]] = {
        mode: {"a": {ORCHESTRATOR: [], RAY: [], DASK: []}} for mode in MODES
    }
    result = BenchmarkResult(name="workflows", title="t")

    report(result, [inst], {mode: {"a": 2.0} for mode in MODES}, walls)

    assert {target.met for target in result.targets} == {None}


def test_each_repeat_runs_every_mode_on_every_engine_once_orchestrator_fresh_per_mode() -> None:
    for repeat in range(4):
        sessions = session_plan(repeat)
        pairs = [(engine, mode) for engine, modes in sessions for mode in modes]
        assert sorted(pairs) == sorted((e, m) for e in (ORCHESTRATOR, RAY, DASK) for m in MODES)
        assert all(len(modes) == 1 for engine, modes in sessions if engine == ORCHESTRATOR)
    # The first session, and the first mode, change from one repeat to the next
    assert session_plan(0)[0] != session_plan(1)[0]


def test_instances_option_runs_only_the_named_instances() -> None:
    from benchmarks.__main__ import parse_args
    from benchmarks.common import RunOptions
    from benchmarks.workflows import build_instances

    assert parse_args(["workflows", "--instances", "a,b"]).instances == "a,b"
    options = RunOptions(quick=True, instances=("montage-100", "genome-100-2core"))
    labels = [inst.label for inst in build_instances(options)]
    assert labels == ["montage-100", "genome-100-2core"]
    with pytest.raises(ValueError, match="no workflows instance labelled nope-1"):
        build_instances(RunOptions(quick=True, instances=("montage-100", "nope-1")))
