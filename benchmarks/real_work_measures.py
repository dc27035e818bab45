"""What the real-work benchmark computes: calibration, efficiency, task spans, CPU shares.

Kept apart from the contenders (`benchmarks.real_work`) so that the arithmetic is tested
without starting Ray or Dask (``tests/unit/test_bench_real_work.py``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.common import median

#: What one task returns: start (`time.perf_counter`), wall s, thread CPU s, process id.
TaskSample = tuple[float, float, float, int]


@dataclass(frozen=True, slots=True)
class Calibration:
    """Loop turns for each task duration, and how long they take alone.

    Attributes:
        loops_per_s: Loop turns per second (the fastest of the probe runs).
        loops: Target duration (s) -> loop turns of a task of that size.
        solo_s: Target duration (s) -> median wall time of those turns, run alone in the
            driver: the "task time" efficiency is computed with.
        samples_s: Target duration (s) -> every solo timing.
    """

    loops_per_s: float
    loops: dict[float, int]
    solo_s: dict[float, float]
    samples_s: dict[float, list[float]] = field(default_factory=dict)


def calibrate(
    durations_s: Sequence[float],
    time_loops: Callable[[int], float],
    *,
    runs: int = 7,
    probe_loops: int = 20_000,
    probe_runs: int = 21,
) -> Calibration:
    """Find the loop turns for each of ``durations_s``, then time each alone.

    The loop rate comes from the fastest of ``probe_runs`` short probes (about 1 ms: a
    busy machine only ever slows a run down, and a short run is the likeliest to go
    undisturbed); each size's solo time is then the median of ``runs`` timings.

    Args:
        durations_s: Task durations to calibrate, in seconds (each > 0).
        time_loops: Runs that many loop turns and returns the seconds they took.
        runs: Timed runs per measurement (one untimed run first).
        probe_loops: Loop turns of each run that measures the loop rate.
        probe_runs: How many such runs.

    Raises:
        ValueError: a duration is not positive, or ``runs`` is below 1.
    """
    if runs < 1 or probe_runs < 1:
        raise ValueError(f"runs and probe_runs must be at least 1, got {runs}, {probe_runs}")
    if any(not duration > 0 for duration in durations_s):
        raise ValueError(f"every duration must be > 0 s, got {list(durations_s)}")
    time_loops(probe_loops)  # warm up
    # The fastest probe: the one other processes on the machine disturbed least.
    rate = probe_loops / min(time_loops(probe_loops) for _ in range(probe_runs))
    loops: dict[float, int] = {}
    solo_s: dict[float, float] = {}
    samples_s: dict[float, list[float]] = {}
    for duration in durations_s:
        loops[duration] = max(1, round(duration * rate))
        time_loops(loops[duration])
        samples_s[duration] = [time_loops(loops[duration]) for _ in range(runs)]
        solo_s[duration] = median(samples_s[duration])
    return Calibration(loops_per_s=rate, loops=loops, solo_s=solo_s, samples_s=samples_s)


def efficiency(work_s: float, wall_s: float, slots: int) -> float:
    """Return ``work_s / (wall_s * slots)``: the share of the slots' time spent on the work.

    1.0 means every slot computed the whole time at solo speed; idle gaps and slow-down by
    contention (other processes on the same cores) both lower it. NaN without a wall time.
    """
    if not wall_s > 0 or slots < 1:
        return math.nan
    return work_s / (wall_s * slots)


@dataclass(frozen=True, slots=True)
class SpanSummary:
    """What the tasks' own timings say about one run.

    Attributes:
        tasks: Tasks that reported.
        busy_s: Sum of the tasks' wall times.
        cpu_s: Sum of the CPU time of the threads that ran them.
        median_span_s: Median task wall time.
        processes: Distinct processes the tasks ran in.
        median_gap_s: Median idle time between one task's end and the next task's start
            in the same process (the dispatch gap a worker sees); NaN with no two tasks in
            one process.
        p90_gap_s: The 90th percentile of those gaps (tasks sent in one batch follow each
            other with almost no gap; the gaps between batches show here).
        first_start_s: Seconds from the start of the wall time to the first task's start.
    """

    tasks: int
    busy_s: float
    cpu_s: float
    median_span_s: float
    processes: int
    median_gap_s: float
    p90_gap_s: float
    first_start_s: float


def summarise_spans(samples: Iterable[TaskSample], wall_started_s: float) -> SpanSummary:
    """Summarise the samples tasks returned (see `benchmarks.workloads.spin`).

    ``wall_started_s`` is when the timed run began, on the same `time.perf_counter` clock
    (which on Linux is the machine's monotonic clock, shared by every process).
    """
    rows = list(samples)
    by_process: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for started_s, wall_s, _, pid in rows:
        by_process[pid].append((started_s, wall_s))
    gaps: list[float] = []
    for spans in by_process.values():
        spans.sort()
        gaps.extend(
            later[0] - (earlier[0] + earlier[1]) for earlier, later in itertools.pairwise(spans)
        )
    return SpanSummary(
        tasks=len(rows),
        busy_s=sum(row[1] for row in rows),
        cpu_s=sum(row[2] for row in rows),
        median_span_s=median([row[1] for row in rows]),
        processes=len(by_process),
        median_gap_s=median(gaps),
        p90_gap_s=sorted(gaps)[int(0.9 * (len(gaps) - 1))] if gaps else math.nan,
        first_start_s=min((row[0] for row in rows), default=math.nan) - wall_started_s,
    )


# -- CPU time of every process of a contender ---------------------------------------------


def process_cpu_s() -> dict[int, tuple[str, float]]:
    """Return pid -> (name, user + system CPU seconds) of this process and its descendants.

    A local Ray (GCS, raylet, its workers and actors) and a Dask `LocalCluster` (nannies,
    workers) all descend from the driver that started them. Processes that end between
    the listing and the reading are skipped.
    """
    import psutil  # type: ignore[import-untyped]

    me = psutil.Process(os.getpid())
    out: dict[int, tuple[str, float]] = {}
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
            out[process.pid] = (process.name(), times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def cpu_shares(
    before: Mapping[int, tuple[str, float]],
    after: Mapping[int, tuple[str, float]],
    *,
    task_pids: set[int],
    supervisor_pid: int | None = None,
) -> dict[str, Any]:
    """Split the CPU seconds spent between two `process_cpu_s` readings by role.

    Roles: ``tasks`` (processes that ran a task), ``supervisor``, ``driver`` (this
    process: the submitting code, and Dask's scheduler, which runs in it), ``other``
    (everything else: Ray's GCS and raylet, idle workers, other actors, Dask nannies).
    A process started in between counts from zero. ``other_by_name`` breaks ``other``
    down by process name.
    """
    driver_pid = os.getpid()
    shares = {"tasks": 0.0, "supervisor": 0.0, "driver": 0.0, "other": 0.0}
    other_by_name: dict[str, float] = defaultdict(float)
    for pid, (name, cpu_s) in after.items():
        spent = cpu_s - before.get(pid, (name, 0.0))[1]
        if pid in task_pids:
            shares["tasks"] += spent
        elif pid == supervisor_pid:
            shares["supervisor"] += spent
        elif pid == driver_pid:
            shares["driver"] += spent
        else:
            shares["other"] += spent
            other_by_name[name] += spent
    return {**shares, "total": sum(shares.values()), "other_by_name": dict(other_by_name)}
