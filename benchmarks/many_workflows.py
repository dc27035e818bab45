"""Benchmark: many small workflows at once, from many driver processes.

1,000 workflows of 10 tasks each (one root, 8 in parallel after it, one join after them)
are submitted by 10 concurrent driver processes (`many_workflows_driver`), 100 each, to
one shared local Ray cluster of 2 CPUs. Two contenders, the same drivers and cluster size:

- orchestrator: one supervisor (started by this process, found by name by every driver:
  ``Orchestrator(address, join_only=True)``); each workflow built with `Workflow` and
  sent with ``Orchestrator.submit_many`` (every submission sent before any answer is
  awaited);
- plain Ray: each workflow as a DAG of Ray tasks, the ObjectRefs passed as arguments.

Each driver warms up (one workflow), then on a common ``go`` submits its 100 workflows all
at once (a loop of submissions without waiting), then waits for every one. Throughput is
all workflows over the wall time from ``go`` to the last driver's last end; a workflow's
latency is from the start of its submission to the end of its join task (the time the
task itself records). The supervisor's CPU time over the run is read with psutil (its
process id from Ray's actor table), per workflow.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    REPO_ROOT,
    BenchmarkResult,
    RunOptions,
    Table,
    TargetCheck,
    log,
    median,
    orchestrator_settings,
    ratio,
    rotated,
    use_ray_environment,
)

DRIVERS = 10
WORKFLOWS_PER_DRIVER = 100
QUICK_DRIVERS = 2
QUICK_WORKFLOWS_PER_DRIVER = 20
#: Tasks between the root and the join of each workflow (10 tasks in all).
MIDDLE_TASKS = 8
NUM_CPUS = 2
#: How long each task holds its slot (0: a no-op; the same on both sides).
TASK_HOLD_S = 0.0
NAMESPACE = "many-workflows"
#: Throughput orchestrator / plain Ray, from the issue.
TARGET_RATIO = 2.0
CONTENDERS = ("orchestrator", "ray")
#: Longest a driver may take to start, or to run its workflows.
DRIVER_TIMEOUT_S = 900.0


def dag_step(hold_s: float, *inputs: Any) -> None:
    """A task of the benchmark's DAG: hold ``hold_s`` (0: none); inputs are ignored."""
    if hold_s > 0:
        time.sleep(hold_s)


def dag_join(hold_s: float, *inputs: Any) -> float:
    """The join task: hold ``hold_s``, then return when it ended (wall clock)."""
    if hold_s > 0:
        time.sleep(hold_s)
    return time.time()


@dataclass(frozen=True, slots=True)
class Sizes:
    """How many drivers and workflows per driver one measurement uses."""

    drivers: int
    workflows_per_driver: int

    @property
    def workflows(self) -> int:
        """Workflows in all."""
        return self.drivers * self.workflows_per_driver


def _start_ray(tries: int = 3) -> str:
    """Start the shared local cluster (2 CPUs) in this process; return its GCS address.

    On a loaded machine Ray's raylet may miss its fixed 30 s start-up window: then try
    again (a failed start leaves nothing connected).
    """
    import ray

    for attempt in range(1, tries + 1):
        try:
            ray.init(
                address="local",
                num_cpus=NUM_CPUS,
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=False,
            )
            break
        except Exception as exc:  # Ray raises a bare Exception for a slow start
            ray.shutdown()
            if attempt == tries or "timed out during startup" not in str(exc):
                raise
            log(f"many_workflows: Ray did not start ({exc}); trying again")
    return str(ray.get_runtime_context().gcs_address)


def _run_drivers(
    contender: str, address: str, sizes: Sizes, tag: str, supervisor_name: str
) -> dict[str, Any]:
    """Start the driver processes, let them warm up, say ``go``; return their timings."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.many_workflows_driver"]
    common = ["--contender", contender, "--address", address, "--namespace", NAMESPACE]
    common += ["--workflows", str(sizes.workflows_per_driver), "--hold-s", str(TASK_HOLD_S)]
    if supervisor_name:
        common += ["--supervisor-name", supervisor_name]
    processes = [
        subprocess.Popen(
            [*command, *common, "--driver", str(index), "--tag", tag],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(sizes.drivers)
    ]
    try:
        for process in processes:
            _read_until(process, "ready")
        go_s = time.time()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        drivers = [_driver_result(process) for process in processes]
    finally:
        for process in processes:  # only these children, by their own handles
            if process.poll() is None:
                process.kill()
                process.wait()
    return {"go_s": go_s, "drivers": drivers}


def _read_until(process: subprocess.Popen[str], word: str) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == word:
            return
    _, stderr = process.communicate(timeout=30)
    raise RuntimeError(f"a driver ended before saying {word!r}: {stderr[-2000:]}")


def _driver_result(process: subprocess.Popen[str]) -> dict[str, Any]:
    stdout, stderr = process.communicate(timeout=DRIVER_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"a driver failed ({process.returncode}): {stderr[-2000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"a driver printed no timings: {stdout[-500:]} {stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _supervisor_pid(handle: Any) -> int:
    from ray._private import state

    info = state.actors(actor_id=handle._actor_id.hex())
    pid = info.get("Pid") if isinstance(info, dict) else None
    if not pid:
        raise RuntimeError("the supervisor's process id is not in Ray's actor table")
    return int(pid)


def _cpu_s(pid: int) -> float:
    import psutil  # type: ignore[import-untyped]

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure_orchestrator(address: str, sizes: Sizes, tag: str) -> dict[str, Any]:
    """One measurement of the orchestrator: a fresh supervisor, the drivers."""
    from benchmarks.many_workflows_driver import build_workflow
    from orchestrator import Orchestrator
    from orchestrator.core.config import SchedulerConfig

    settings = orchestrator_settings(
        log_level="ERROR",
        ray={"address": address, "namespace": NAMESPACE, "supervisor_name": f"supervisor-{tag}"},
        # Keep every workflow of the run until its driver has fetched and released it.
        scheduler=SchedulerConfig(max_finished_workflows=2 * sizes.workflows + 100),
    )
    # This process is connected already: the orchestrator joins its Ray, and its
    # shutdown stops the supervisor and its agents (freeing the CPUs), not Ray.
    with Orchestrator(settings=settings) as orch:
        orch.run(build_workflow("warm-up", TASK_HOLD_S), timeout_s=300).release()
        pid = _supervisor_pid(orch.supervisor)
        cpu_before_s = _cpu_s(pid)
        sample = _run_drivers("orchestrator", address, sizes, tag, settings.ray.supervisor_name)
        sample["supervisor_cpu_s"] = _cpu_s(pid) - cpu_before_s
    return sample


def measure_ray(address: str, sizes: Sizes, tag: str) -> dict[str, Any]:
    """One measurement of plain Ray: the drivers, each its own Ray job."""
    return _run_drivers("ray", address, sizes, tag, "")


def summarise(sample: dict[str, Any]) -> dict[str, float]:
    """Return throughput, wall time and latency percentiles of one measurement."""
    drivers = sample["drivers"]
    latencies = sorted(
        end - submit
        for driver in drivers
        for submit, end in zip(driver["submits_s"], driver["ends_s"], strict=True)
    )
    wall_s = max(driver["done_s"] for driver in drivers) - sample["go_s"]
    submit_s = max(driver["submitted_s"] - driver["go_s"] for driver in drivers)
    out = {
        "workflows": float(len(latencies)),
        "wall_s": wall_s,
        "throughput": len(latencies) / wall_s,
        "submit_s": submit_s,
        "latency_p50_s": percentile(latencies, 0.50),
        "latency_p99_s": percentile(latencies, 0.99),
    }
    if "supervisor_cpu_s" in sample:
        out["supervisor_cpu_per_workflow_s"] = sample["supervisor_cpu_s"] / len(latencies)
        out["supervisor_busy"] = sample["supervisor_cpu_s"] / wall_s
    return out


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    rank = max(1, min(len(values), round(fraction * len(values) + 0.5)))
    return values[rank - 1]


def run(options: RunOptions) -> BenchmarkResult:
    """Run the many-workflows benchmark; return its result."""
    use_ray_environment()
    if options.quick:
        sizes = Sizes(QUICK_DRIVERS, QUICK_WORKFLOWS_PER_DRIVER)
    else:
        sizes = Sizes(DRIVERS, WORKFLOWS_PER_DRIVER)
    measures = {"orchestrator": measure_orchestrator, "ray": measure_ray}
    summaries: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in CONTENDERS}
    import ray

    log("many_workflows: starting the shared Ray")
    address = _start_ray()
    try:
        for repeat in range(options.repeats):
            for name in rotated(CONTENDERS, repeat):
                log(
                    f"many_workflows: {name} #{repeat + 1}: {sizes.drivers} drivers x "
                    f"{sizes.workflows_per_driver} workflows"
                )
                sample = measures[name](address, sizes, f"r{repeat}")
                summary = summarise(sample)
                log(
                    f"many_workflows: {name} #{repeat + 1}: {summary['throughput']:.1f} "
                    f"workflows/s, p99 {summary['latency_p99_s']:.2f} s"
                )
                samples[name].append(sample)
                summaries[name].append(summary)
    finally:
        ray.shutdown()
    result = BenchmarkResult(
        name="many_workflows",
        title=f"{sizes.workflows:,} workflows of 10 tasks from {sizes.drivers} drivers",
    )
    result.data = {
        "drivers": sizes.drivers,
        "workflows_per_driver": sizes.workflows_per_driver,
        "task_hold_s": TASK_HOLD_S,
        "summaries": summaries,
        "samples": samples,
    }
    _report(result, sizes, summaries, options.repeats)
    return result


def _report(
    result: BenchmarkResult,
    sizes: Sizes,
    summaries: dict[str, list[dict[str, float]]],
    repeats: int,
) -> None:
    def med(name: str, key: str) -> float:
        return median([s.get(key, float("nan")) for s in summaries[name]])

    table = Table(
        f"{sizes.workflows:,} workflows of 10 tasks, {sizes.drivers} drivers, {NUM_CPUS} CPUs "
        f"(median of {repeats})",
        [
            "contender",
            "workflows/s",
            "wall s",
            "submit s (slowest driver)",
            "latency p50 s",
            "latency p99 s",
            "supervisor CPU ms/workflow",
            "supervisor busy",
        ],
    )
    labels = {"orchestrator": "orchestrator (one supervisor)", "ray": "plain Ray task DAGs"}
    for name in CONTENDERS:
        table.add(
            labels[name],
            med(name, "throughput"),
            med(name, "wall_s"),
            med(name, "submit_s"),
            med(name, "latency_p50_s"),
            med(name, "latency_p99_s"),
            med(name, "supervisor_cpu_per_workflow_s") * 1000,
            med(name, "supervisor_busy"),
        )
    result.tables = [table]
    measured = ratio(med("orchestrator", "throughput"), med("ray", "throughput"))
    full_size = sizes.drivers >= DRIVERS and sizes.workflows_per_driver >= WORKFLOWS_PER_DRIVER
    result.targets = [
        TargetCheck(
            f"many workflows: throughput orchestrator / plain Ray ({sizes.workflows:,} "
            f"workflows, {sizes.drivers} drivers)",
            f">= {TARGET_RATIO:g}",
            f"{measured:.2f}" + ("" if full_size else " (quick sizes)"),
            None if math.isnan(measured) else measured >= TARGET_RATIO,
        )
    ]
    hold = "no-ops" if TASK_HOLD_S == 0 else f"{TASK_HOLD_S * 1000:g} ms sleeps"
    result.notes = [
        f"One local Ray of {NUM_CPUS} CPUs started by the benchmark's process for the whole "
        f"benchmark; {sizes.drivers} driver processes "
        "(`python -m benchmarks.many_workflows_driver`) join it by its GCS address. The "
        "orchestrator's supervisor is started by the benchmark's process, a fresh one per "
        "measurement (stopped with its agents after it); every driver finds it by name "
        "(`Orchestrator(address, join_only=True)`). Each plain-Ray driver is a Ray job of "
        "its own, its workers ending with it.",
        f"Each workflow: one root task, {MIDDLE_TASKS} tasks after it, one join after "
        f"those; every task is one of `dag_step`/`dag_join` ({hold}), 1 CPU each, on both "
        "sides. Plain Ray passes the ObjectRefs as arguments (the dependencies).",
        "Each driver warms up with one workflow, then all start on a common `go`: each "
        f"submits its {sizes.workflows_per_driver} workflows without waiting: the "
        "orchestrator's driver builds each `Workflow` in a loop, then sends them all with "
        "`Orchestrator.submit_many` (every submission sent before any answer is awaited: "
        "one wait, not one supervisor round trip per workflow); Ray's builds each DAG's "
        "refs in a loop. A workflow's submission time is when its building began. Then "
        "each driver waits for all of them (orchestrator: `run.wait()` each, in order; "
        "Ray: `ray.wait` of the join refs).",
        "Throughput: all workflows / (the last driver's end - `go`). Latency: from the "
        "start of a workflow's submission to the end of its join task (the time that task "
        "returns; fetched after the run, outside the timing). With every submission at "
        "once, latency is mostly queueing behind the other workflows.",
        "Supervisor CPU: user + system CPU time of the supervisor's process over the run "
        "(psutil, process id from Ray's actor table), per workflow; busy = that time / "
        "wall time. The supervisor asks Ray for no CPU, so it runs beside the 2 slots on a "
        "2-core machine and takes time from the tasks and drivers.",
        "What would make this unfair: plain Ray's workers belong to one job (driver), so "
        f"{sizes.drivers} drivers on {NUM_CPUS} CPUs start (and Ray ends) worker processes "
        "per driver, while the orchestrator's agents serve every driver; a Ray user would "
        "rather send every workflow from one driver or through actors. The orchestrator's "
        "agents run many no-op tasks per call (batching) where Ray runs one per task.",
        "The orchestrator's drivers also release each workflow after fetching its result "
        "(outside the timing), so the supervisor keeps no finished workflow between runs.",
    ]
