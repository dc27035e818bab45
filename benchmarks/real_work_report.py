"""Tables, targets and notes of the real-work benchmark (`benchmarks.real_work`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from benchmarks.common import BenchmarkResult, Table, TargetCheck, median, ratio

if TYPE_CHECKING:
    from benchmarks.real_work import Workload
    from benchmarks.real_work_measures import Calibration

ORCHESTRATOR = "orchestrator"
RAY_TASKS = "ray tasks"
ACTOR_POOL = "ray actor pool"
DASK = "dask"
CONTENDERS = (ORCHESTRATOR, RAY_TASKS, ACTOR_POOL, DASK)
#: Target of the issue: orchestrator efficiency at these sizes (workload labels).
EFFICIENCY_TARGET = 0.9
EFFICIENCY_TARGET_SIZES = ("10 ms", "100 ms")

#: contender -> workload label -> one dict per repeat (see `benchmarks.real_work.measure`).
Runs = dict[str, dict[str, list[dict[str, Any]]]]


def _med(samples: Sequence[dict[str, Any]], key: str) -> float:
    return median([float(sample[key]) for sample in samples])


def _med_cpu(samples: Sequence[dict[str, Any]], role: str) -> float:
    return median([float(sample["cpu_s"][role]) for sample in samples])


def _overhead_per_task(samples: Sequence[dict[str, Any]], tasks: int) -> float:
    """Median CPU seconds per task spent outside the processes that ran tasks."""
    return median(
        [(float(s["cpu_s"]["total"]) - float(s["cpu_s"]["tasks"])) / tasks for s in samples]
    )


def tables_targets_notes(
    result: BenchmarkResult,
    workloads: Sequence[Workload],
    calibration: Calibration,
    runs: Runs,
    sizes_name: str,
) -> None:
    """Fill ``result``'s tables, targets and notes from the measured ``runs``."""
    slots = int(result.data["slots"])
    eff = {
        name: {w.label: _med(runs[name][w.label], "efficiency") for w in workloads}
        for name in CONTENDERS
    }
    main = Table(
        f"Efficiency = total task time / (wall time x {slots} slots), medians; 1.00 = every "
        "slot computed all the time at solo speed",
        ["workload", "tasks", "task time (s)", *CONTENDERS, "orch / ray tasks"],
    )
    for w in workloads:
        main.add(
            w.label,
            len(w.durations_s),
            w.work_s(calibration),
            *[eff[name][w.label] for name in CONTENDERS],
            ratio(eff[ORCHESTRATOR][w.label], eff[RAY_TASKS][w.label]),
        )
    detail = Table(
        "Where the slots' time went (medians): wall time, efficiency, the tasks' own "
        "measured time, the gaps between them, and CPU seconds by process role",
        [
            "contender",
            "workload",
            "wall (s)",
            "efficiency",
            "busy share",
            "slow-down",
            "gap p50 (ms)",
            "gap p90 (ms)",
            "first task (ms)",
            "CPU tasks (s)",
            "CPU supervisor (s)",
            "CPU driver (s)",
            "CPU other (s)",
            "overhead CPU / task (ms)",
        ],
    )
    for name in CONTENDERS:
        for w in workloads:
            samples = runs[name][w.label]
            detail.add(
                name,
                w.label,
                _med(samples, "wall_s"),
                _med(samples, "efficiency"),
                _med(samples, "busy_share"),
                _med(samples, "slowdown"),
                _med(samples, "median_gap_s") * 1e3,
                _med(samples, "p90_gap_s") * 1e3,
                _med(samples, "first_start_s") * 1e3,
                _med_cpu(samples, "tasks"),
                _med_cpu(samples, "supervisor") if name == ORCHESTRATOR else math.nan,
                _med_cpu(samples, "driver"),
                _med_cpu(samples, "other"),
                1e3 * _overhead_per_task(samples, len(w.durations_s)),
            )
    repeats = max((len(s) for per in runs.values() for s in per.values()), default=0)
    spread = Table(
        "Efficiency in every repeat",
        ["contender", "workload", *[f"#{i + 1}" for i in range(repeats)]],
    )
    for name in CONTENDERS:
        for w in workloads:
            values = [float(s["efficiency"]) for s in runs[name][w.label]]
            spread.add(name, w.label, *values, *[math.nan] * (repeats - len(values)))
    calib = Table(
        "Calibration (in the driver, before any contender starts)",
        ["size", "loop turns", "solo median (ms)", "solo min (ms)", "solo max (ms)"],
    )
    for duration, loops in calibration.loops.items():
        samples_s = calibration.samples_s.get(duration, [])
        calib.add(
            f"{duration * 1000:g} ms",
            loops,
            calibration.solo_s[duration] * 1e3,
            min(samples_s, default=math.nan) * 1e3,
            max(samples_s, default=math.nan) * 1e3,
        )
    result.tables = [main, detail, spread, calib]
    result.targets = _targets(eff, [w.label for w in workloads])
    result.notes = _notes(workloads, sizes_name, slots)


def _targets(eff: dict[str, dict[str, float]], labels: list[str]) -> list[TargetCheck]:
    ours, theirs = eff[ORCHESTRATOR], eff[RAY_TASKS]
    pairs = [(label, ours[label], theirs[label]) for label in labels]
    measured = [(o, r) for _, o, r in pairs if not (math.isnan(o) or math.isnan(r))]
    at_sizes = [(label, ours[label]) for label in EFFICIENCY_TARGET_SIZES if label in ours]
    finite = [value for _, value in at_sizes if not math.isnan(value)]
    return [
        TargetCheck(
            "realwork: orchestrator efficiency >= plain Ray tasks', every size and the mix",
            ">= ray tasks",
            "; ".join(f"{label} {o:.3f} vs {r:.3f}" for label, o, r in pairs),
            all(o >= r for o, r in measured) if measured else None,
        ),
        TargetCheck(
            "realwork: orchestrator efficiency at 10 ms and 100 ms",
            f">= {EFFICIENCY_TARGET:.2f}",
            "; ".join(f"{label} {value:.3f}" for label, value in at_sizes),
            all(v >= EFFICIENCY_TARGET for v in finite) if finite else None,
        ),
    ]


def _notes(workloads: Sequence[Workload], sizes_name: str, slots: int) -> list[str]:
    sizes = ", ".join(f"{len(w.durations_s):,} x {w.label}" for w in workloads[:-1])
    return [
        "Task body: `benchmarks.workloads.spin(loops)`, a pure-Python loop of a fixed "
        "number of turns (`agents.simulated.burn`): not a sleep, and not a spin to a "
        "wall-clock deadline. The turns for 1, 10 and 100 ms are calibrated once, in the "
        "driver, before any contender starts: the loop rate from the fastest of 21 probes "
        "of about 1 ms (a busy machine only slows a run down), then each size's solo time "
        "is the median of 7 timings (the Calibration table: a wide min-max there means "
        "the machine was busy and every efficiency is less certain).",
        f"Sizes ({sizes_name}): {sizes}, and a mix of every size shuffled (seed fixed; "
        "a third of the work each), about 10 s of work per slot. The issue asks 10,000 "
        "tasks of each size: `BENCH_REALWORK_FULL=1 python -m benchmarks realwork` runs "
        "that (about 9-10 minutes of wall per contender and repeat: 100-ms tasks alone "
        "take 500 s); the default keeps `make bench` short.",
        f"Slots equal cores: {slots} everywhere. orchestrator: embedded Ray with "
        f"num_cpus={slots}, its default function pool (1 CPU per agent, so {slots} "
        "agents), default scheduler settings, no duration estimates (it learns them); "
        f"ray tasks: `ray.remote(num_cpus=1)` on `ray.init(num_cpus={slots})`; ray actor "
        f"pool: `ray.util.ActorPool` of {slots} actors of 1 CPU; dask: `LocalCluster` of "
        f"{slots} worker processes of 1 thread (the loop holds the GIL: threads would "
        "not compute in parallel).",
        "Each contender runs in a session of its own (its Ray or cluster started before "
        "and stopped after), warmed up first with 200 x 1 ms and 20 x 10 ms untimed "
        "tasks; the workloads then run in the order of the tables; the order of "
        "contenders rotates across repeats (`data.order`).",
        "Wall time: from the first submission until every result is in the driver, the "
        "same on every side: orchestrator `submit` + `wait` + `run.results()`; ray tasks "
        "`ray.get` of every ref; actor pool `list(pool.map_unordered(...))`; dask "
        "`client.map(..., pure=False)` + `client.gather`. Building the orchestrator's "
        "`Workflow` (a list of task definitions) is not timed.",
        "Efficiency = tasks x the calibrated solo time of their size / (wall x slots). "
        "Anything else that needs these 2 cores lowers it: the orchestrator's supervisor, "
        "the driver (which also hosts Dask's scheduler), Ray's raylet and GCS, and other "
        "work on the machine. The supervisor reserves no CPU: its CPU time is taken "
        "from the same 2 cores the tasks use, and the table says how much.",
        "busy share = the tasks' own measured wall times (each task reports its "
        "`time.perf_counter` span) / (wall x slots); slow-down = those spans / the "
        "calibrated solo time. Efficiency ~ busy share / slow-down: a slow-down above 1 "
        "is contention (a task's core was shared), a busy share well below efficiency x "
        "slow-down would be idle slots. gap = the time between one task's end and the "
        "next task's start in the same worker process, median and 90th percentile "
        "(dispatch latency as a worker sees it; tasks of one batch follow each other "
        "with almost no gap); first task = from the start of the wall time to the first "
        "task's start.",
        "CPU seconds: user + system time of the driver and every process descending from "
        "it (a local Ray's GCS, raylet, workers and actors; Dask's nannies and workers), "
        "read with psutil before and after the timed run; 'tasks' = processes that ran a "
        "task (whole process, not just the task's thread), 'supervisor' = the "
        "orchestrator's supervisor actor, 'other' = the rest (`data.runs[...].cpu_s."
        "other_by_name`). overhead CPU / task = (all of them - tasks) / tasks: what "
        "dispatching one task costs the machine outside the worker processes (the "
        "orchestrator's includes its supervisor and bus actor; Dask's its scheduler, "
        "in the driver). On a busy (virtual) machine CPU times are inflated too (while this "
        "was written, with other work on the 2 cores, the 1-ms tasks' own CPU time read "
        "about 3x their solo time): compare the contenders' figures with each other.",
        "Unfair to anyone? Ray's and Dask's drivers submit every task at once; the "
        "orchestrator's driver sends one spec and its supervisor does the dispatching, "
        "on the same cores. The machine is shared with other work: compare the "
        "contenders within one run, and read the efficiency spread across repeats.",
    ]
