"""Benchmark: what one slot idles between two tasks, in Ray itself and in the orchestrator.

Every engine that runs work on Ray pays Ray's own cost between two tasks on one worker:
the end of one call (its return value stored, its reply sent) and the start of the next
(taken from the queue, handed to a thread, its arguments read). This measures it on one
CPU, with 30-ms tasks queued back to back so that no slot ever waits for a decision:

- plain Ray tasks (one worker, leased again and again);
- one threaded Ray actor, as the orchestrator's agent hosts are (concurrency groups),
  every call queued at once, with and without one upstream ref to read, as a dependent
  task of a DAG has;
- the same actor running every task in one streaming-generator call (one ``yield`` per
  task): what a per-task call would cost if the calls were not there;
- the orchestrator: tasks of a DAG (a root and a fan-out, so each call is one attempt,
  pipelined one call ahead) and tasks of a workflow without dependencies (prefetched).

The gap is the next task's start minus the previous one's end on the same slot, both
read on the worker (`time.time`). What the orchestrator adds over the threaded actor is
its own share; the rest is Ray's floor, which no scheduler on Ray avoids per call.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Table,
    TargetCheck,
    log,
    median,
    orchestrator_settings,
    rotated,
    use_ray_environment,
)
from benchmarks.workloads import hold

TASK_S = 0.03
TASKS = 60
QUICK_TASKS = 20
#: The WfCommons benchmark's slots and lower bound, to put the floor in its terms.
WORKFLOW_SLOTS = 4
WORKFLOW_BOUND_S = 2.5

CONTENDERS = (
    "ray tasks",
    "ray tasks, one upstream ref",
    "ray actor (threaded)",
    "ray actor (threaded), one upstream ref",
    "ray actor, one streaming call",
    "orchestrator, DAG tasks (pipelined)",
    "orchestrator, independent tasks (prefetched)",
)
#: The plain Ray contenders (run first), then the orchestrator's.
PLAIN = CONTENDERS[:5]
DAG = CONTENDERS[5]
#: What the orchestrator's DAG tasks are held against: like them, each reads an input.
LIKE_FOR_LIKE = CONTENDERS[1]


def timed_hold(duration_s: float, *upstream: Any) -> tuple[float, float]:
    """Sleep ``duration_s``; return when it started and ended (worker clock)."""
    started = time.time()
    time.sleep(duration_s)
    return started, time.time()


def gaps_ms(intervals: Sequence[tuple[float, float]]) -> list[float]:
    """Return the idle time between consecutive (start, end) intervals of one slot, in ms."""
    ordered = sorted(intervals)
    return [(b[0] - a[1]) * 1e3 for a, b in itertools.pairwise(ordered)]


def p90(values: Sequence[float]) -> float:
    """Return the 90th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else float("nan")


def _ray_contenders(tasks: int) -> dict[str, Any]:
    """Return a callable per plain-Ray contender; each returns its slot's intervals."""
    import ray

    remote_hold: Any = ray.remote(num_cpus=1)(timed_hold)

    class Host:
        """A threaded actor shaped like an agent host."""

        @ray.method(concurrency_group="work")
        def run(self, duration_s: float, refs: Sequence[Any]) -> tuple[float, float]:
            ray.get(list(refs))
            return timed_hold(duration_s)

        @ray.method(concurrency_group="work")
        def stream(self, duration_s: float, count: int) -> Iterator[tuple[float, float]]:
            for _ in range(count):
                yield timed_hold(duration_s)

        @ray.method(concurrency_group="health")
        def ping(self) -> None:
            return None

    # No CPU of its own: the plain tasks need the one CPU between its runs (the runs
    # never overlap).
    groups = {"work": 1, "health": 1}
    actor_class: Any = ray.remote(num_cpus=0, concurrency_groups=groups)(Host)  # type: ignore[call-overload]
    host: Any = actor_class.remote()
    ray.get(host.ping.remote())
    upstream = [ray.put(1)]

    def tasks_(*refs: Any) -> list[tuple[float, float]]:
        # An upstream ref as a top-level argument: Ray resolves it before the task starts.
        return list(ray.get([remote_hold.remote(TASK_S, *refs) for _ in range(tasks)]))

    def actor(refs: Sequence[Any]) -> list[tuple[float, float]]:
        return list(ray.get([host.run.remote(TASK_S, refs) for _ in range(tasks)]))

    def stream() -> list[tuple[float, float]]:
        generator = host.stream.options(num_returns="streaming").remote(TASK_S, tasks)
        return [ray.get(ref) for ref in generator]

    return {
        "ray tasks": tasks_,
        "ray tasks, one upstream ref": lambda: tasks_(upstream[0]),
        "ray actor (threaded)": lambda: actor([]),
        "ray actor (threaded), one upstream ref": lambda: actor(upstream),
        "ray actor, one streaming call": stream,
        "_host": host,
    }


def _orchestrator_runs(orchestrator: Any, tasks: int, count: list[int]) -> dict[str, Any]:
    """Return a callable per orchestrator contender; each returns its agent's intervals."""
    from orchestrator import Workflow, WorkflowState

    def run(dag: bool) -> list[tuple[float, float]]:
        count[0] += 1
        workflow = Workflow(f"floor-{count[0]}")
        root = workflow.task("root", hold, args=(TASK_S,), estimated_duration_s=TASK_S)
        for index in range(tasks):
            workflow.task(
                f"t{index}",
                hold,
                args=(TASK_S,),
                depends_on=(root,) if dag else (),
                estimated_duration_s=TASK_S,
            )
        handle = orchestrator.submit(workflow)
        if handle.wait(timeout_s=120).state is not WorkflowState.SUCCEEDED:
            raise RuntimeError("the floor benchmark's workflow did not succeed")
        infos = [info for info in handle.tasks() if info.task_id != "root"]
        agents = {info.agent_id for info in infos}
        if len(agents) != 1:
            raise RuntimeError(f"expected one agent, the tasks ran on {sorted(agents)}")
        handle.release()
        return [(info.started_s, info.finished_s) for info in infos]

    return {
        "orchestrator, DAG tasks (pipelined)": lambda: run(True),
        "orchestrator, independent tasks (prefetched)": lambda: run(False),
    }


def _measure(tasks: int, repeats: int) -> dict[str, list[float]]:
    """Return every gap (ms) of every contender over ``repeats`` rotated rounds."""
    import ray

    from orchestrator import Orchestrator

    settings = orchestrator_settings(1, log_level="ERROR")
    gaps: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    with Orchestrator(settings=settings) as orchestrator:
        runs = _orchestrator_runs(orchestrator, tasks, [0])
        # The orchestrator's agent holds the one CPU while it lives: the plain Ray
        # contenders run first, their actor is then killed, and the agent starts after.
        plain = _ray_contenders(tasks)
        host = plain.pop("_host")
        runs.update(plain)
        for group in (PLAIN, CONTENDERS[len(PLAIN) :]):
            for name in group:
                runs[name]()  # warm-up (the second group's: its agent starts)
            for repeat in range(repeats):
                for name in rotated(group, repeat):
                    gaps[name].extend(gaps_ms(runs[name]()))
            if group is PLAIN:
                ray.kill(host)
    return gaps


def report(gaps: dict[str, list[float]], tasks: int, repeats: int) -> BenchmarkResult:
    """Build the report of measured ``gaps`` (ms per contender)."""
    medians = {name: median(values) for name, values in gaps.items()}
    floor_ms = medians["ray actor (threaded)"]
    result = BenchmarkResult(
        name="floor", title="Idle time between two tasks on one slot: Ray's floor and ours"
    )
    table = Table(
        f"Gap between consecutive {TASK_S * 1e3:g}-ms tasks on one slot ({tasks} tasks x "
        f"{repeats} repeats)",
        ["contender", "median (ms)", "p90 (ms)", "mean (ms)", "over the threaded actor (ms)"],
    )
    for name in CONTENDERS:
        values = gaps[name]
        mean = statistics.fmean(values) if values else float("nan")
        table.add(name, medians[name], p90(values), mean, medians[name] - floor_ms)
    ours_ms, tasks_ms = medians[DAG], medians[LIKE_FOR_LIKE]
    implication = Table(
        f"One gap per task in a WfCommons run ({WORKFLOW_SLOTS} slots, lower bound "
        f"{WORKFLOW_BOUND_S:g} s): share of the bound",
        [
            "tasks in the instance",
            "tasks per slot",
            "ray tasks (one input)",
            "ray actor call",
            "ours (DAG)",
        ],
    )
    for size in (100, 300):
        per_slot = size / WORKFLOW_SLOTS
        implication.add(
            size,
            per_slot,
            *(
                per_slot * gap_ms / 1e3 / WORKFLOW_BOUND_S
                for gap_ms in (tasks_ms, floor_ms, ours_ms)
            ),
        )
    result.tables = [table, implication]
    result.data = {"tasks": tasks, "task_s": TASK_S, "gaps_ms": gaps}
    result.targets = [
        TargetCheck(
            "floor: gap between dependent tasks on a slot, orchestrator / plain Ray tasks",
            "<= 1.0",
            f"{ours_ms / tasks_ms:.2f} ({ours_ms:.2f} vs {tasks_ms:.2f} ms; Ray's actor-call "
            f"floor {floor_ms:.2f} ms)",
            ours_ms <= tasks_ms,
        )
    ]
    result.notes = notes(tasks)
    return result


def run(options: RunOptions) -> BenchmarkResult:
    """Run the call-floor benchmark; return its result."""
    tasks = QUICK_TASKS if options.quick else TASKS
    use_ray_environment()
    log(f"floor: {tasks} tasks of {TASK_S * 1e3:g} ms back to back on one CPU, per contender")
    return report(_measure(tasks, options.repeats), tasks, options.repeats)


def notes(tasks: int) -> list[str]:
    """Return how the benchmark measures, in words."""
    return [
        "One embedded Ray of 1 CPU, so that every contender runs on one slot; the "
        f"orchestrator's (function pool: one agent of 1 CPU), log level ERROR. {tasks} "
        f"tasks of {TASK_S * 1e3:g} ms (`time.sleep`) per run, all submitted at once; "
        "gap = start of a task - end of the one before on that slot, both read on the "
        "worker. Medians over every gap of every repeat.",
        "ray tasks: `ray.remote(num_cpus=1)`, one worker leased again for each; with one "
        "upstream ref, each task takes a `ray.put` object as a top-level argument (Ray "
        "resolves it before the task starts), as the WfCommons baseline passes "
        "dependencies. The target holds the orchestrator's DAG tasks against these. "
        "ray actor: "
        "an actor with concurrency groups like an agent host (`work` of one thread, "
        "`health`), every call queued at once; with one upstream ref, each call also "
        "`ray.get`s a nested ref (a dependent task reads its input so). One streaming "
        "call: the same actor runs every task in one call and yields each one's times "
        "(`num_returns='streaming'`): the cost of a yield instead of a call.",
        "orchestrator: a workflow of a root task and a fan-out of tasks depending on it "
        "(each call one attempt, pipelined one call ahead, as the short tasks of a "
        "WfCommons DAG), and one of independent tasks (prefetched calls), every task with "
        "its exact estimate; times from `run.tasks()` (the agent's clock).",
        "The plain Ray contenders run first (alternating), then their actor is killed and "
        "the orchestrator's agent starts for its runs (alternating): the one CPU is "
        "never shared.",
        "The second table puts a gap per task in the WfCommons benchmark's terms: an "
        "instance of n tasks on 4 slots runs about n/4 tasks per slot one after the "
        "other, each paying one gap, against a lower bound of 2.5 s. Plain Ray pays its "
        "task gap there too; the orchestrator can lead only by its policy, or by "
        "paying less than a call per task.",
    ]
