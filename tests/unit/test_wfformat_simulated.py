"""`agents.simulated.simulate`, the body every imported WfFormat task runs."""

from __future__ import annotations

import math
import time

import pytest

from agents.simulated import SIMULATION_MODES, simulate
from orchestrator.import_paths import import_object
from orchestrator.wfformat import SIMULATE_FUNCTION


def test_import_path_used_by_the_importer_resolves_to_simulate() -> None:
    assert import_object(SIMULATE_FUNCTION) is simulate
    assert SIMULATION_MODES == ("sleep", "compute")


@pytest.mark.parametrize("mode", ["sleep", "compute"])
def test_takes_the_requested_time_and_reports_it(mode: str) -> None:
    start = time.perf_counter()
    spent = simulate(0.05, mode)
    elapsed = time.perf_counter() - start

    assert 0.05 <= spent <= elapsed


def test_compute_mode_keeps_the_cpu_busy() -> None:
    cpu_start = time.process_time()
    simulate(0.05, "compute")
    busy = time.process_time() - cpu_start

    sleep_start = time.process_time()
    simulate(0.05, "sleep")
    idle = time.process_time() - sleep_start

    # Relative, not absolute: other processes may share the two cores of a test machine.
    assert busy > 0.01
    assert idle < busy / 4


def test_upstream_inputs_are_accepted_and_ignored() -> None:
    # Inputs change nothing: the task still takes (and reports) its own duration
    spent = simulate(0.02, "sleep", {"upstream": 1}, [2, 3], None)
    assert isinstance(spent, float)
    assert spent >= 0.02


@pytest.mark.parametrize(
    ("duration_s", "mode", "message"),
    [
        (-0.1, "sleep", "duration_s must be a finite number >= 0, got -0.1"),
        (math.nan, "sleep", "duration_s must be a finite number >= 0, got nan"),
        (math.inf, "compute", "duration_s must be a finite number >= 0, got inf"),
        (0.1, "nap", "unknown mode 'nap'; expected one of sleep, compute"),
    ],
)
def test_invalid_arguments_are_refused(duration_s: float, mode: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(duration_s, mode)
