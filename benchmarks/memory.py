"""Benchmark 4: the supervisor's memory with 100,000 and 1,000,000 queued tasks.

A workflow of 100,000 (then 1,000,000) function tasks is submitted to an orchestrator whose
function pool may run one agent (``max_function_replicas=1``). Its first task (priority
CRITICAL) sleeps for minutes, so it occupies that agent and nothing else can run. Two shapes:

- ``ready``: the other tasks are independent, so they all sit in the ready queue;
- ``waiting``: the other tasks depend on the first one, so they all wait in the graph.

The supervisor's memory is read before (after a small warm-up workflow) and after the
submission: its peak RSS from ``supervisor.process_stats()`` (the orchestrator's API), and
its current RSS and USS read from outside with psutil (the process id comes from Ray's
actor table). The driver's own memory is sampled too (its RSS after building the workflow,
and its peak while submitting it: a workflow of more than `SUBMIT_CHUNK_TASKS` tasks is
sent in chunks, never packed whole). Then the workflow is cancelled, and the time that
takes is reported too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Stopwatch,
    Table,
    TargetCheck,
    fmt_mb,
    log,
    median,
    orchestrator_settings,
    use_ray_environment,
    wait_until,
)
from benchmarks.workloads import hold, noop

#: Queued tasks (default and ``--quick``).
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000,)
#: Sizes above this are measured once per shape (each takes minutes).
ONCE_ABOVE = 100_000
#: How long the first task blocks the only agent (it is cancelled long before).
BLOCK_S = 3600.0
#: Targets from the issues (peak RSS of the supervisor), by size.
TARGET_BYTES = {100_000: 300e6, 1_000_000: 2e9}
#: How often the driver's RSS is sampled while it builds and submits (seconds).
DRIVER_SAMPLE_S = 0.005
SHAPES = ("ready", "waiting")


def build_blocked_workflow(num_tasks: int, shape: str) -> Any:
    """Return a `WorkflowSpec`: one blocking CRITICAL task, then ``num_tasks - 1`` no-ops.

    ``shape`` ``ready`` makes the no-ops independent, ``waiting`` makes them depend on the
    blocking task.
    """
    from orchestrator import Priority, Workflow

    if shape not in SHAPES:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    workflow = Workflow(f"memory-{shape}")
    blocker = workflow.task("blocker", hold, args=(BLOCK_S,), priority=Priority.CRITICAL)
    depends_on = [blocker] if shape == "waiting" else []
    for index in range(num_tasks - 1):
        workflow.task(f"queued-{index}", noop, depends_on=depends_on)
    return workflow.to_spec()


def _settings(supervisor_name: str) -> Any:
    from orchestrator.core.config import SchedulerConfig

    return orchestrator_settings(
        2,
        ray={"supervisor_name": supervisor_name},
        scheduler=SchedulerConfig(max_function_replicas=1),
    )


def _supervisor_pid(handle: Any) -> int | None:
    """Return the supervisor's process id from Ray's actor table (None if unknown)."""
    from ray._private import state

    info = state.actors(actor_id=handle._actor_id.hex())
    pid = info.get("Pid") if isinstance(info, dict) else None
    return int(pid) if pid else None


def _memory(supervisor: Any, pid: int | None) -> dict[str, float]:
    """Return the supervisor's peak RSS (its own report) and current RSS/USS (psutil)."""
    import psutil  # type: ignore[import-untyped]
    import ray

    stats = ray.get(supervisor.process_stats.remote())
    out = {"peak_rss": float(stats["max_rss_bytes"])}
    if pid is not None:
        info = psutil.Process(pid).memory_full_info()
        out["rss"] = float(info.rss)
        out["uss"] = float(info.uss)
    return out


@contextmanager
def driver_peak_rss() -> Iterator[list[float]]:
    """Sample this process's RSS until the block ends; yield ``[peak bytes]`` (filled then).

    A thread reads the RSS every `DRIVER_SAMPLE_S`: ``ru_maxrss`` would keep the peak of
    an earlier, larger measurement in the same process.
    """
    import psutil

    process = psutil.Process()
    peak = [float(process.memory_info().rss)]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], float(process.memory_info().rss))
            done.wait(DRIVER_SAMPLE_S)

    sampler = threading.Thread(target=sample, name="driver-rss", daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], float(process.memory_info().rss))


def measure(num_tasks: int, shape: str, name: str) -> dict[str, float]:
    """Run one measurement on a fresh supervisor named ``name``; return its figures."""
    import gc

    import psutil
    import ray

    from orchestrator import Orchestrator, TaskState

    patience_s = 120.0 + num_tasks / 2_000  # a million tasks take minutes to queue
    driver = psutil.Process()
    orch = Orchestrator(settings=_settings(name)).start()
    try:
        supervisor = orch.supervisor
        # Warm up: imports, an agent, the scheduler's code paths.
        orch.run(build_blocked_workflow_small(), timeout_s=120)
        pid = _supervisor_pid(supervisor)  # known once the actor is alive
        before = _memory(supervisor, pid)
        gc.collect()
        driver_before = float(driver.memory_info().rss)
        with driver_peak_rss() as driver_build_peak:
            watch = Stopwatch()
            spec = build_blocked_workflow(num_tasks, shape)
            build_s = watch.elapsed_s()
        driver_built = float(driver.memory_info().rss)
        with driver_peak_rss() as driver_submit_peak:
            watch = Stopwatch()
            run = orch.submit(spec, workflow_id=f"{name}-wf")
            submit_s = watch.elapsed_s()
        del spec
        wait_until(
            lambda: run.status().count(TaskState.RUNNING) == 1,
            timeout_s=patience_s,
            what="the blocking task running",
        )
        status = run.status()
        queued = num_tasks - status.count(TaskState.RUNNING)
        if status.state.is_terminal or queued != num_tasks - 1:
            raise RuntimeError(f"expected {num_tasks - 1} queued tasks, got {status.counts}")
        after = _memory(supervisor, pid)
        watch = Stopwatch()
        run.cancel("benchmark done")
        run.wait(timeout_s=patience_s)
        cancel_s = watch.elapsed_s()
        stats = ray.get(supervisor.process_stats.remote())
    finally:
        orch.shutdown()
    out = {
        "queued": float(queued),
        "build_s": build_s,
        "submit_s": submit_s,
        "cancel_s": cancel_s,
        "results_held": float(stats.get("results_held", 0)),
        "driver_before_rss": driver_before,
        "driver_build_peak_rss": driver_build_peak[0],
        "driver_built_rss": driver_built,
        "driver_submit_peak_rss": driver_submit_peak[0],
    }
    for key, value in before.items():
        out[f"before_{key}"] = value
    for key, value in after.items():
        out[f"after_{key}"] = value
    return out


def build_blocked_workflow_small() -> Any:
    """Return a tiny workflow of no-ops that warms the supervisor and an agent up.

    Its tasks ask for half a CPU, so they run in a pool of their own: the measured pool
    then has no duration history and sends one attempt per call (no batching behind the
    blocking task).
    """
    from orchestrator import Workflow

    workflow = Workflow("memory-warm-up")
    for index in range(20):
        workflow.task(f"warm-{index}", noop, resources={"num_cpus": 0.5})
    return workflow.to_spec()


def run(options: RunOptions) -> BenchmarkResult:
    """Run the memory benchmark; return its result."""
    import ray

    sizes = QUICK_SIZES if options.quick else SIZES
    repeats = 1 if options.quick else min(options.repeats, 2)
    result = BenchmarkResult(
        name="memory",
        title=f"Supervisor memory with {' and '.join(f'{n:,}' for n in sizes)} queued tasks",
        repeats=repeats,
    )
    use_ray_environment()
    log("memory: starting Ray")
    # Started here, not by the Orchestrator, so each measurement gets a fresh supervisor
    # on the same Ray.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="orchestrator",
    )
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        for size in sizes:
            per_shape: dict[str, list[dict[str, float]]] = {shape: [] for shape in SHAPES}
            samples[str(size)] = per_shape
            for repeat in range(repeats_of(size, repeats)):
                for shape in SHAPES:
                    sample = measure(size, shape, f"supervisor-memory-{size}-{shape}-{repeat}")
                    per_shape[shape].append(sample)
                    log(
                        f"memory: {size:,} {shape} #{repeat + 1}: supervisor peak RSS "
                        f"{fmt_mb(sample['before_peak_rss'])} -> "
                        f"{fmt_mb(sample['after_peak_rss'])}, driver peak RSS "
                        f"{fmt_mb(sample['driver_submit_peak_rss'])} "
                        f"(submit {sample['submit_s']:.1f} s)"
                    )
    finally:
        ray.shutdown()
    result.data = {"sizes": list(sizes), "samples": samples}
    _tables(result, sizes, samples, repeats)
    return result


def repeats_of(size: int, repeats: int) -> int:
    """Return how often ``size`` is measured per shape: once above `ONCE_ABOVE`."""
    return 1 if size > ONCE_ABOVE else repeats


def _tables(
    result: BenchmarkResult,
    sizes: tuple[int, ...],
    samples: dict[str, dict[str, list[dict[str, float]]]],
    repeats: int,
) -> None:
    nan = float("nan")

    def med(size: int, shape: str, key: str) -> float:
        return median([s.get(key, nan) for s in samples[str(size)][shape]])

    table = Table(
        "Supervisor memory (medians)",
        [
            "queued tasks",
            "are",
            "runs",
            "peak RSS before",
            "peak RSS after",
            "RSS before",
            "RSS after",
            "USS after",
            "bytes/queued task (RSS)",
            "bytes/queued task (peak)",
        ],
    )
    driver = Table(
        "Driver memory and times (medians)",
        [
            "queued tasks",
            "are",
            "driver RSS before",
            "peak while building",
            "RSS built (specs held)",
            "peak while submitting",
            "submit adds (peak - built)",
            "build workflow (s)",
            "submit (s)",
            "cancel all (s)",
        ],
    )
    for size in sizes:
        worst_peak = 0.0
        for shape in SHAPES:
            queued = med(size, shape, "queued")
            rss_delta = med(size, shape, "after_rss") - med(size, shape, "before_rss")
            peak_delta = med(size, shape, "after_peak_rss") - med(size, shape, "before_peak_rss")
            worst_peak = max(worst_peak, med(size, shape, "after_peak_rss"))
            where = "ready (in the queue)" if shape == "ready" else "waiting (on a dependency)"
            table.add(
                size,
                where,
                len(samples[str(size)][shape]),
                fmt_mb(med(size, shape, "before_peak_rss")),
                fmt_mb(med(size, shape, "after_peak_rss")),
                fmt_mb(med(size, shape, "before_rss")),
                fmt_mb(med(size, shape, "after_rss")),
                fmt_mb(med(size, shape, "after_uss")),
                rss_delta / queued,
                peak_delta / queued,
            )
            built = med(size, shape, "driver_built_rss")
            submit_peak = med(size, shape, "driver_submit_peak_rss")
            driver.add(
                size,
                shape,
                fmt_mb(med(size, shape, "driver_before_rss")),
                fmt_mb(med(size, shape, "driver_build_peak_rss")),
                fmt_mb(built),
                fmt_mb(submit_peak),
                fmt_mb(submit_peak - built),
                med(size, shape, "build_s"),
                med(size, shape, "submit_s"),
                med(size, shape, "cancel_s"),
            )
        target = TARGET_BYTES.get(size)
        if target is not None:
            result.targets.append(
                TargetCheck(
                    f"supervisor peak RSS with {size:,} queued tasks",
                    f"< {target / 1e6:,.0f} MB",
                    fmt_mb(worst_peak),
                    worst_peak < target,
                )
            )
    for size, target in TARGET_BYTES.items():
        if size not in sizes:
            result.targets.append(
                TargetCheck(
                    f"supervisor peak RSS with {size:,} queued tasks",
                    f"< {target / 1e6:,.0f} MB",
                    "-",
                    None,
                )
            )
    result.tables = [table, driver]
    once = [f"{size:,}" for size in sizes if repeats_of(size, repeats) == 1]
    result.notes = [
        "One local Ray (2 CPUs, no dashboard), a fresh supervisor actor per measurement; "
        "SchedulerConfig(max_function_replicas=1), so the only function agent runs the "
        f"CRITICAL first task, which sleeps {BLOCK_S:g} s; the workflow is cancelled once "
        "measured.",
        "ready: the other tasks are independent (all in the ready queue); waiting: they all "
        "depend on the first task (all pending in the graph).",
        "peak RSS is `ru_maxrss` from `supervisor.process_stats()`, the orchestrator's own "
        "API; it includes transient peaks (unpickling and validating the submitted spec), "
        "so it is the figure held against the target. RSS and USS (memory unique to the "
        "process) are read with psutil from outside, the process id taken from Ray's actor "
        "table (`ray._private.state.actors`): `process_stats()` reports only the peak.",
        "before = after a 20-task warm-up workflow on the same supervisor; bytes/queued "
        "task = (after - before) / queued tasks.",
        "The tasks are function tasks built with `Workflow.task` and sent by "
        "`Orchestrator.submit`, as a user would; whatever form the supervisor receives and "
        "keeps them in is part of what is measured. A workflow of more than "
        "`orchestrator.api.SUBMIT_CHUNK_TASKS` (50,000) tasks is sent as chunks of rows, "
        "each packed just before it is sent, which the supervisor assembles.",
        "Driver memory: its RSS sampled by a thread every "
        f"{DRIVER_SAMPLE_S * 1000:g} ms with psutil (`ru_maxrss` would keep an earlier, larger "
        "measurement's peak). `RSS built` holds the workflow's pydantic specs, which the "
        "user's program holds anyway; `submit adds` is what submitting needed on top (rows "
        "packed, pickled and sent). The driver process also holds Ray's client state; its "
        "figures are the whole process's.",
        f"Runs per shape: {repeats} at each size"
        + (f", except once at {', '.join(once)} (each takes minutes)." if once else "."),
    ]
