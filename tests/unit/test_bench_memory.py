"""The memory benchmark's tables and targets, from made-up samples (no Ray)."""

from __future__ import annotations

from benchmarks.common import BenchmarkResult
from benchmarks.memory import SHAPES, _tables, repeats_of


def _sample(num_tasks: int, peak_after: float) -> dict[str, float]:
    return {
        "queued": float(num_tasks - 1),
        "before_peak_rss": 100e6,
        "after_peak_rss": peak_after,
        "before_rss": 90e6,
        "after_rss": peak_after - 10e6,
        "after_uss": peak_after - 20e6,
        "build_s": 1.0,
        "submit_s": 2.0,
        "cancel_s": 0.5,
        "driver_before_rss": 200e6,
        "driver_build_peak_rss": 900e6,
        "driver_built_rss": 850e6,
        "driver_submit_peak_rss": 950e6,
    }


def test_each_size_is_held_to_its_own_target() -> None:
    samples = {
        "100000": {shape: [_sample(100_000, 250e6), _sample(100_000, 260e6)] for shape in SHAPES},
        "1000000": {shape: [_sample(1_000_000, 2.5e9)] for shape in SHAPES},
    }
    result = BenchmarkResult(name="memory", title="t")
    _tables(result, (100_000, 1_000_000), samples, repeats=2)
    checks = {check.name: check for check in result.targets}
    assert checks["supervisor peak RSS with 100,000 queued tasks"].met is True
    assert checks["supervisor peak RSS with 1,000,000 queued tasks"].met is False
    driver = result.tables[1]
    assert driver.rows[0][6] == "100.0 MB"  # submit adds: peak while submitting - built
    assert "except once at 1,000,000" in result.notes[-1]


def test_a_size_not_measured_leaves_its_target_unmeasured() -> None:
    samples = {"10000": {shape: [_sample(10_000, 120e6)] for shape in SHAPES}}
    result = BenchmarkResult(name="memory", title="t")
    _tables(result, (10_000,), samples, repeats=1)
    assert [check.met for check in result.targets] == [None, None]


def test_sizes_above_100k_run_once() -> None:
    assert repeats_of(100_000, 2) == 2
    assert repeats_of(1_000_000, 2) == 1
