"""The workflows benchmark's report: every wall time is judged against the tight bound."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from benchmarks.common import BenchmarkResult, RunOptions
from benchmarks.workflows import DASK, ORCHESTRATOR, RAY, Instance, _tables


def _instance(label: str, bound_s: float, tight_bound_s: float) -> Instance:
    spec: Any = SimpleNamespace(tasks=[object()] * 10)
    return Instance(label, spec, 1.0, 9, 2.0, 1.5, bound_s, 2.4, 2.6, tight_bound_s)


def test_ratios_are_to_the_tighter_bound() -> None:
    # Given one instance whose staged bound (2.5 s) is above the classic one (2.0 s)
    long_root = _instance("long-root", 2.0, 2.5)
    plain = _instance("plain", 2.0, 1.0)  # the classic bound is the tighter one here
    walls = {
        label: {ORCHESTRATOR: [2.75], RAY: [3.0], DASK: [3.25]} for label in ("long-root", "plain")
    }
    result = BenchmarkResult(name="workflows", title="t")
    _tables(result, [long_root, plain], walls, RunOptions())
    rows = {row[0]: row for row in result.tables[0].rows}
    # Then the table shows both bounds and judges against the tighter
    assert rows["long-root"][5:8] == [2.0, 2.5, pytest.approx(2.75 / 2.5)]
    assert rows["plain"][5:8] == [2.0, 2.0, pytest.approx(2.75 / 2.0)]
    gap = {row[0]: row for row in result.tables[1].rows}
    assert gap["long-root"][1] == pytest.approx(2.4 / 2.5)  # policy sim / tight bound
