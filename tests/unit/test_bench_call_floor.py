"""The call-floor benchmark's arithmetic: gaps on a slot, percentiles, report and target."""

from __future__ import annotations

import math

import pytest

from benchmarks.call_floor import CONTENDERS, DAG, LIKE_FOR_LIKE, gaps_ms, p90, report


def test_gaps_are_the_idle_time_between_consecutive_intervals_in_any_order() -> None:
    intervals = [(2.0, 2.5), (0.0, 1.0), (1.002, 2.0)]

    assert gaps_ms(intervals) == pytest.approx([2.0, 0.0])


def test_one_interval_or_none_has_no_gap() -> None:
    assert gaps_ms([(0.0, 1.0)]) == []
    assert gaps_ms([]) == []


def test_p90_is_the_nearest_rank_and_nan_without_values() -> None:
    assert p90([float(value) for value in range(1, 11)]) == 10.0
    assert p90([5.0, 1.0]) == 5.0
    assert math.isnan(p90([]))


def _gaps(ours_ms: float, theirs_ms: float) -> dict[str, list[float]]:
    gaps = {name: [1.0, 1.0, 1.0] for name in CONTENDERS}
    gaps["ray actor (threaded)"] = [0.5, 0.5, 0.9]
    gaps[DAG] = [ours_ms, ours_ms, 9.0]
    gaps[LIKE_FOR_LIKE] = [theirs_ms] * 3
    return gaps


def test_report_holds_the_dag_gap_against_plain_ray_tasks_with_an_input() -> None:
    result = report(_gaps(ours_ms=1.2, theirs_ms=2.4), tasks=60, repeats=2)

    (target,) = result.targets
    assert target.met is True
    assert target.measured.startswith("0.50 (1.20 vs 2.40 ms")
    gap_table, share_table = result.tables
    rows = {row[0]: row for row in gap_table.rows}
    assert rows[DAG][1] == 1.2  # median
    assert rows[DAG][2] == 9.0  # p90 keeps the slow gap
    assert rows[DAG][4] == pytest.approx(0.7)  # over the threaded actor's 0.5 ms
    # 300 tasks on 4 slots: 75 gaps per slot against a 2.5-s bound.
    three_hundred = share_table.rows[1]
    assert three_hundred[:2] == [300, 75.0]
    assert three_hundred[2:] == pytest.approx(
        [75 * 2.4e-3 / 2.5, 75 * 0.5e-3 / 2.5, 75 * 1.2e-3 / 2.5]
    )


def test_a_dag_gap_over_plain_ray_tasks_misses_the_target() -> None:
    result = report(_gaps(ours_ms=3.0, theirs_ms=2.0), tasks=60, repeats=2)

    assert result.targets[0].met is False
