"""`orchestrator.testing`: the oracle of the simulated runtime can fail, and the package is
usable on its own (no pytest, no Ray)."""

from __future__ import annotations

import subprocess
import sys

from orchestrator.core import AttemptOrder, DispatchBatch, Priority, TaskEvent, TaskState
from orchestrator.testing import SimRuntime, SpecBuilder


def _order(task_id: str, inputs: tuple[str, ...] = ()) -> AttemptOrder:
    return AttemptOrder(1, "wf", task_id, 1, None, (), {}, inputs, Priority.MEDIUM)


def test_the_ledger_flags_a_success_of_an_attempt_that_never_succeeded() -> None:
    sim = SimRuntime()
    sim.execute([])
    sim._record_task_events([TaskEvent("wf", "t", TaskState.SUCCEEDED, 1)])
    assert sim.ledger.violations == ["('wf', 't') succeeded with attempt 1, which never succeeded"]


def test_the_ledger_flags_a_dispatch_before_a_dependency_succeeded() -> None:
    sim = SimRuntime()
    spec = SpecBuilder()
    sim.submit(spec.workflow(spec.task("up"), spec.task("down", depends_on=["up"])))
    [agent_id] = sim.agents
    sim._accept(DispatchBatch(agent_id, 99, (_order("down", ("up",)),)))
    assert any("before its dependency up ended" in v for v in sim.ledger.violations)


def test_a_clean_run_has_no_violation() -> None:
    sim = SimRuntime()
    spec = SpecBuilder()
    sim.submit(spec.workflow(*spec.chain("a", "b", "c")))
    sim.run()
    assert sim.ledger.violations == []
    assert [e.task_id for e in sim.ledger.task_events if e.state is TaskState.SUCCEEDED] == [
        "a",
        "b",
        "c",
    ]


def test_the_package_imports_without_pytest_or_ray() -> None:
    probe = (
        "import sys, orchestrator.testing, orchestrator.testing.rounds; "
        "print(sorted(m for m in ('pytest', 'ray') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
