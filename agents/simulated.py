"""A stand-in task body that takes a given time: for replaying recorded workflow traces.

Imported workflow instances (see `orchestrator.wfformat`) record how long each task ran,
not what it did. `simulate` reproduces only that: it sleeps, or keeps a CPU busy, for the
recorded duration. It is a plain function, importable as ``agents.simulated:simulate``, so
the orchestrator, plain Ray tasks and Dask all run the very same body.
"""

from __future__ import annotations

import math
import time
from typing import Literal, get_args

#: How `simulate` spends its time: ``sleep`` idles, ``compute`` spins on the CPU.
SimulationMode = Literal["sleep", "compute"]

#: The modes `simulate` accepts.
SIMULATION_MODES: tuple[str, ...] = get_args(SimulationMode)

# Spinning checks the clock after this many loop turns; the counter itself is the "work".
_SPIN_BATCH = 1_000


def simulate(duration_s: float, mode: str = "sleep", *inputs: object) -> float:
    """Take ``duration_s`` seconds of wall time, idling or computing, and return the time taken.

    ``compute`` mode spins until a wall-clock deadline rather than doing a fixed amount of
    work, so a task still ends on time when more tasks run than there are cores (or when
    threads share the GIL): it loads the CPU but keeps the recorded duration.

    Args:
        duration_s: How long to take, in seconds (``0`` returns at once).
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
    start = time.perf_counter()
    deadline = start + duration_s
    if mode == "sleep":
        # sleep() may wake early on some platforms; loop until the deadline has passed.
        remaining = duration_s
        while remaining > 0:
            time.sleep(remaining)
            remaining = deadline - time.perf_counter()
    else:
        spins = 0
        while time.perf_counter() < deadline:
            for _ in range(_SPIN_BATCH):
                spins += 1
    return time.perf_counter() - start
