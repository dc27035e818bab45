"""The critical-path benchmark's report: ratios, geomean and target from given walls."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from benchmarks.common import BenchmarkResult
from benchmarks.critical_path import MODES, OFF, ON, _report
from benchmarks.workflows import Instance


def _instance(label: str) -> Instance:
    spec: Any = SimpleNamespace(tasks=[object()] * 10)
    return Instance(label, spec, 1.0, 9, 2.0, 1.5, 2.0, 2.1, 2.6)


def test_the_report_compares_the_rule_on_and_off() -> None:
    instances = [_instance("a"), _instance("b")]
    walls = {
        "a": {ON: [2.0, 2.2, 2.4], OFF: [3.0, 2.8, 2.6]},  # medians 2.2 and 2.8
        "b": {ON: [2.0], OFF: [1.8]},
    }
    result = BenchmarkResult(name="critical_path", title="t")
    _report(result, instances, walls, 2.0)
    [table] = result.tables
    rows = {row[0]: row for row in table.rows}
    assert rows["a"][3:6] == [1.1, 1.4, 2.8 / 2.2]
    assert rows["b"][5] == 0.9
    assert math.isclose(rows["geometric mean"][5], math.sqrt(2.8 / 2.2 * 0.9))
    [target] = result.targets
    assert target.met is True and "worst instance 0.900" in target.measured
    # A run that could not be measured leaves the target unknown, not met
    empty = BenchmarkResult(name="critical_path", title="t")
    _report(empty, instances, {"a": {m: [] for m in MODES}, "b": {m: [] for m in MODES}}, 2.0)
    assert empty.targets[0].met is None
