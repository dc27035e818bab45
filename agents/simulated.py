"""A stand-in task body that takes a given time: for replaying recorded workflow traces.

Imported workflow instances (see `orchestrator.wfformat`) record how long each task ran,
not what it did. `simulate` reproduces only that: it sleeps, or computes, for the recorded
duration. It is a plain function, importable as ``agents.simulated:simulate``, so the
orchestrator, plain Ray tasks and Dask all run the very same body.
"""

from __future__ import annotations

import math
import time
from typing import Literal, get_args

#: How `simulate` spends its time: ``sleep`` idles, ``compute`` runs a fixed CPU-bound loop.
SimulationMode = Literal["sleep", "compute"]

#: The modes `simulate` accepts.
SIMULATION_MODES: tuple[str, ...] = get_args(SimulationMode)

#: Calibration: timed runs of `burn`, each of about this many loop turns; the fastest wins.
_CALIBRATION_LOOPS = 20_000
_CALIBRATION_RUNS = 5

#: Loop turns of `burn` per second in this process, measured on first use (see `loops_per_s`).
_loops_per_s: float | None = None


def burn(loops: int) -> None:
    """Run a pure-Python loop of ``loops`` turns: a fixed amount of CPU-bound work.

    Holds the GIL and one core throughout; when the core (or the GIL) is shared, the same
    work takes longer, as real computation would.
    """
    total = 0
    for turn in range(loops):
        total += turn


def loops_per_s() -> float:
    """Return how many `burn` loop turns this process runs per second, measuring it once.

    The fastest of a few short timed runs (about 1 ms each), so a run that another process
    interrupted counts least; the figure is then kept for the life of the process.
    """
    global _loops_per_s  # noqa: PLW0603 - one measurement per process, by design
    if _loops_per_s is None:
        burn(_CALIBRATION_LOOPS)  # warm up the interpreter's specialised loop first
        fastest_s = math.inf
        for _ in range(_CALIBRATION_RUNS):
            start = time.perf_counter()
            burn(_CALIBRATION_LOOPS)
            fastest_s = min(fastest_s, time.perf_counter() - start)
        _loops_per_s = _CALIBRATION_LOOPS / max(fastest_s, 1e-9)
    return _loops_per_s


def compute_loops(duration_s: float) -> int:
    """Return the `burn` loop turns that take ``duration_s`` on an idle core of this process."""
    return round(duration_s * loops_per_s())


def simulate(duration_s: float, mode: str = "sleep", *inputs: object) -> float:
    """Take ``duration_s`` seconds, idling or computing, and return the time taken.

    ``compute`` mode does a fixed amount of work, `compute_loops` turns of `burn` (the loop
    rate is measured once per process, on first use), not a spin to a wall-clock deadline:
    when more tasks run than there are cores, or threads share the GIL, each task takes
    longer, as real work would.

    Args:
        duration_s: How long to take, in seconds (``0`` returns at once); in ``compute``
            mode, how long the work takes on an idle core.
        mode: ``sleep`` (release the CPU) or ``compute`` (keep one core busy).
        *inputs: Results of upstream tasks; accepted and ignored, so the function can sit
            anywhere in a dependency graph.

    Returns:
        The seconds actually spent, measured with `time.perf_counter`.

    Raises:
        ValueError: ``duration_s`` is negative or not finite, or ``mode`` is unknown.
    """
    del inputs  # only the ordering they imply matters
    if not math.isfinite(duration_s) or duration_s < 0:
        raise ValueError(f"duration_s must be a finite number >= 0, got {duration_s!r}")
    if mode not in SIMULATION_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(SIMULATION_MODES)}")
    loops = compute_loops(duration_s) if mode == "compute" and duration_s > 0 else 0
    start = time.perf_counter()
    if mode == "sleep":
        # sleep() may wake early on some platforms; loop until the deadline has passed.
        deadline = start + duration_s
        remaining = duration_s
        while remaining > 0:
            time.sleep(remaining)
            remaining = deadline - time.perf_counter()
    else:
        burn(loops)
    return time.perf_counter() - start
