"""`agents.simulated.simulate`, the body every imported WfFormat task runs."""

from __future__ import annotations

import math
import threading
import time

import pytest

from agents.simulated import SIMULATION_MODES, burn, compute_loops, loops_per_s, simulate
from orchestrator.import_paths import import_object
from orchestrator.wfformat import SIMULATE_FUNCTION


def test_import_path_used_by_the_importer_resolves_to_simulate() -> None:
    assert import_object(SIMULATE_FUNCTION) is simulate
    assert SIMULATION_MODES == ("sleep", "compute")


def test_sleep_takes_the_requested_time_and_reports_it() -> None:
    start = time.perf_counter()
    spent = simulate(0.05, "sleep")
    elapsed = time.perf_counter() - start

    assert 0.05 <= spent <= elapsed


def test_compute_takes_about_the_requested_time_and_reports_it() -> None:
    loops_per_s()  # calibrated before timing, as a long-lived worker would be
    start = time.perf_counter()
    spent = simulate(0.05, "compute")
    elapsed = time.perf_counter() - start

    # Fixed work calibrated on the fastest of a few runs: about the time asked, or longer
    # when other processes share the cores; never much shorter.
    assert 0.04 <= spent <= elapsed


def test_compute_mode_does_a_fixed_amount_of_work() -> None:
    assert compute_loops(0.05) == compute_loops(0.05) == round(0.05 * loops_per_s())
    assert compute_loops(0.1) == pytest.approx(2 * compute_loops(0.05), abs=1)
    assert compute_loops(0.0) == 0


def test_compute_mode_takes_longer_when_it_shares_the_cpu() -> None:
    # Given a calibrated process and the best of three solo runs
    loops_per_s()
    solo_s = min(simulate(0.05, "compute") for _ in range(3))
    # When another thread of the same process computes meanwhile (they share the GIL)
    stop = threading.Event()

    def compete() -> None:
        while not stop.is_set():
            burn(10_000)

    competitor = threading.Thread(target=compete)
    competitor.start()
    try:
        shared_s = simulate(0.05, "compute")
    finally:
        stop.set()
        competitor.join()

    # Then the same work takes longer (a spin to a wall-clock deadline would not)
    assert shared_s > 1.3 * solo_s


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
