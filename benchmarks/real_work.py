"""Benchmark: real (CPU-bound) work on as many slots as cores, orchestrator vs Ray vs Dask.

Every task runs `benchmarks.workloads.spin`: a pure-Python loop of a fixed number of
turns, calibrated once in the driver for 1 ms, 10 ms and 100 ms (median of several solo
timings; `benchmarks.real_work_measures.calibrate`). Fixed work, not a sleep and not a
spin to a wall-clock deadline: a task sharing its core with anything else (the
supervisor, Ray's raylet, the driver) takes longer, and that shows in the result.

Four contenders, each with ``SLOTS`` (2) slots on this 2-core machine, each in a session
of its own (started and stopped around it, warmed up first), in an order that rotates
from repeat to repeat:

- ``orchestrator``: an `Orchestrator` on an embedded Ray of ``num_cpus=2``, its default
  function pool (1 CPU per agent: two agents), one workflow of independent tasks, no
  duration estimates; results fetched with ``run.results()``;
- ``ray tasks``: ``ray.remote(num_cpus=1)(spin)`` on ``ray.init(num_cpus=2)``, then
  ``ray.get`` of every ref;
- ``ray actor pool``: ``ray.util.ActorPool`` of two actors (1 CPU each),
  ``map_unordered`` over every task;
- ``dask``: a `LocalCluster` of two single-threaded worker processes (the loop holds the
  GIL, so threads would not run in parallel), ``client.map(..., pure=False)`` then
  ``client.gather``.

Efficiency = total task time / (wall time x slots), where total task time = tasks x the
calibrated solo time of their size. Each task also reports its own span, thread CPU time
and process, so a reader can tell slow-down by contention from idle gaps.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    log,
    orchestrator_settings,
    rotated,
    use_ray_environment,
)
from benchmarks.real_work_measures import (
    Calibration,
    TaskSample,
    calibrate,
    cpu_shares,
    efficiency,
    process_cpu_s,
    summarise_spans,
)
from benchmarks.real_work_report import (
    ACTOR_POOL,
    CONTENDERS,
    DASK,
    ORCHESTRATOR,
    RAY_TASKS,
    tables_targets_notes,
)
from benchmarks.workloads import SpinActor, spin

#: Slots every contender gets: the machine's 2 cores.
SLOTS = 2
#: Task sizes (seconds of work on an idle core).
DURATIONS_S = (0.001, 0.01, 0.1)
#: Tasks of each size: default (about 5-10 s of wall each), ``--quick``, and the issue's
#: full sizes (10,000 of each: 500 s of wall for the 100-ms tasks alone, per contender),
#: chosen with the environment variable ``BENCH_REALWORK_FULL=1``.
COUNTS = {0.001: 10_000, 0.01: 2_000, 0.1: 200}
QUICK_COUNTS = {0.001: 1_000, 0.01: 100, 0.1: 20}
FULL_COUNTS = {0.001: 10_000, 0.01: 10_000, 0.1: 10_000}
#: The mix: tasks of every size shuffled together (a third of the work each).
MIX = {0.001: 6_000, 0.01: 600, 0.1: 60}
QUICK_MIX = {0.001: 600, 0.01: 60, 0.1: 6}
FULL_MIX = {0.001: 10_000, 0.01: 1_000, 0.1: 100}
FULL_ENV = "BENCH_REALWORK_FULL"
MIX_SEED = 13
#: Untimed tasks each session runs first (starts workers and agents, imports the body).
WARM_UP = {0.001: 200, 0.01: 20}


#: A contender's prepared run: called inside the wall time, returns every task's sample.
Go = Callable[[], list[TaskSample]]


@dataclass(frozen=True, slots=True)
class Workload:
    """One timed run: its label and each task's size (seconds), in submission order."""

    label: str
    durations_s: tuple[float, ...]

    def loops(self, calibration: Calibration) -> list[int]:
        """Return each task's loop turns."""
        return [calibration.loops[duration] for duration in self.durations_s]

    def work_s(self, calibration: Calibration) -> float:
        """Return the total task time: each task's calibrated solo time, summed."""
        return sum(calibration.solo_s[duration] for duration in self.durations_s)


def size_label(duration_s: float) -> str:
    """Return ``1 ms``, ``10 ms``, ``100 ms``."""
    return f"{duration_s * 1000:g} ms"


def build_workloads(
    counts: dict[float, int], mix: dict[float, int], seed: int = MIX_SEED
) -> list[Workload]:
    """Return one workload per size, then the mix (every size, shuffled with ``seed``)."""
    out = [Workload(size_label(d), (d,) * n) for d, n in counts.items()]
    mixed = [d for d, n in mix.items() for _ in range(n)]
    random.Random(seed).shuffle(mixed)
    out.append(Workload("mix", tuple(mixed)))
    return out


def chosen_sizes(options: RunOptions) -> tuple[dict[float, int], dict[float, int], str]:
    """Return the counts, the mix and the name of the sizes this run uses."""
    if options.quick:
        return QUICK_COUNTS, QUICK_MIX, "quick"
    if os.environ.get(FULL_ENV) == "1":
        return FULL_COUNTS, FULL_MIX, "full"
    return COUNTS, MIX, "default"


# -- contenders ---------------------------------------------------------------------------


class Session:
    """A started contender: `prepare` readies a run; ``supervisor_pid`` for CPU shares."""

    supervisor_pid: int | None = None

    def prepare(self, loops: list[int]) -> Go:
        """Return what runs ``loops`` (one task each) and returns every task's sample."""
        raise NotImplementedError


class OrchestratorSession(Session):
    """An orchestrator on an embedded Ray of ``SLOTS`` CPUs, default function pool."""

    def __init__(self, orchestrator: Any) -> None:
        import ray

        self._orchestrator = orchestrator
        self._runs = 0
        stats = ray.get(orchestrator.supervisor.process_stats.remote())
        self.supervisor_pid = int(stats["pid"])

    def prepare(self, loops: list[int]) -> Go:
        """Build the workflow (untimed); the run submits, waits and fetches `results()`."""
        from orchestrator import Workflow, WorkflowState

        self._runs += 1
        workflow = Workflow(f"realwork-{self._runs}")
        for index, turns in enumerate(loops):
            workflow.task(f"t{index}", spin, args=(turns,))
        spec = workflow.to_spec()
        name = f"realwork-{self._runs}"

        def go() -> list[TaskSample]:
            run = self._orchestrator.submit(spec, workflow_id=name)
            status = run.wait()
            if status.state is not WorkflowState.SUCCEEDED:
                raise RuntimeError(f"{name} ended {status.state.value}: {status.counts}")
            values = list(run.results().values())
            run.release()  # forget the workflow (the next run starts from the same state)
            return values

        return go


class RayTasksSession(Session):
    """Plain Ray tasks of 1 CPU on the Ray this process started."""

    def __init__(self) -> None:
        import ray

        self._get = ray.get
        self._remote: Any = ray.remote(num_cpus=1)(spin)

    def prepare(self, loops: list[int]) -> Go:
        """Submit every task, then ``ray.get`` them all."""
        remote = self._remote
        return lambda: self._get([remote.remote(turns) for turns in loops])


class ActorPoolSession(Session):
    """`ray.util.ActorPool` of ``SLOTS`` actors of 1 CPU each."""

    def __init__(self) -> None:
        import ray
        from ray.util import ActorPool

        actor_class: Any = ray.remote(num_cpus=1)(SpinActor)
        actors = [actor_class.remote() for _ in range(SLOTS)]
        ray.get([actor.ready.remote() for actor in actors])
        self._pool = ActorPool(actors)

    def prepare(self, loops: list[int]) -> Go:
        """``map_unordered`` over every task (the pool sends one call per idle actor)."""
        return lambda: list(self._pool.map_unordered(lambda a, v: a.spin.remote(v), loops))


class DaskSession(Session):
    """Dask distributed: ``SLOTS`` worker processes of one thread each."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def prepare(self, loops: list[int]) -> Go:
        """``client.map`` (``pure=False``: equal arguments are distinct tasks), ``gather``."""
        client = self._client

        def go() -> list[TaskSample]:
            futures = client.map(spin, loops, pure=False)
            values: list[TaskSample] = client.gather(futures)
            return values

        return go


@contextmanager
def orchestrator_session() -> Iterator[Session]:
    """Start an orchestrator (embedded Ray, ``SLOTS`` CPUs); shut it down on exit."""
    from orchestrator import Orchestrator

    with Orchestrator(settings=orchestrator_settings(SLOTS)) as orchestrator:
        yield OrchestratorSession(orchestrator)


@contextmanager
def ray_session(make: Callable[[], Session]) -> Iterator[Session]:
    """Start a private local Ray of ``SLOTS`` CPUs, then the session ``make`` returns."""
    from benchmarks.baselines.ray_tasks import local_ray

    with local_ray(SLOTS):
        yield make()


@contextmanager
def dask_session() -> Iterator[Session]:
    """Start a `LocalCluster` of ``SLOTS`` single-threaded worker processes."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=SLOTS,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": ":0"},
    )
    try:
        with Client(cluster) as client:
            yield DaskSession(client)
    finally:
        cluster.close()


SESSIONS: dict[str, Callable[[], Any]] = {
    ORCHESTRATOR: orchestrator_session,
    RAY_TASKS: lambda: ray_session(RayTasksSession),
    ACTOR_POOL: lambda: ray_session(ActorPoolSession),
    DASK: dask_session,
}


# -- the benchmark ------------------------------------------------------------------------


def measure(session: Session, workload: Workload, calibration: Calibration) -> dict[str, Any]:
    """Run ``workload`` once on ``session``; return its wall time and what the tasks said."""
    go = session.prepare(workload.loops(calibration))
    cpu_before = process_cpu_s()
    started_s = time.perf_counter()
    samples = go()
    wall_s = time.perf_counter() - started_s
    cpu_after = process_cpu_s()
    if len(samples) != len(workload.durations_s):
        raise RuntimeError(f"{workload.label}: {len(samples)} results, expected all")
    spans = summarise_spans(samples, started_s)
    work_s = workload.work_s(calibration)
    return {
        "wall_s": wall_s,
        "work_s": work_s,
        "efficiency": efficiency(work_s, wall_s, SLOTS),
        "busy_share": efficiency(spans.busy_s, wall_s, SLOTS),
        "task_cpu_share": efficiency(spans.cpu_s, wall_s, SLOTS),
        "slowdown": spans.busy_s / work_s if work_s > 0 else float("nan"),
        "median_span_s": spans.median_span_s,
        "median_gap_s": spans.median_gap_s,
        "p90_gap_s": spans.p90_gap_s,
        "first_start_s": spans.first_start_s,
        "processes": spans.processes,
        "cpu_s": cpu_shares(
            cpu_before,
            cpu_after,
            task_pids={sample[3] for sample in samples},
            supervisor_pid=session.supervisor_pid,
        ),
    }


def warm_up(session: Session, calibration: Calibration) -> None:
    """Run a few untimed tasks of each of the smaller sizes on ``session``."""
    loops = [calibration.loops[d] for d, n in WARM_UP.items() for _ in range(n)]
    session.prepare(loops)()


def run(options: RunOptions) -> BenchmarkResult:
    """Calibrate, then run every workload on every contender, ``options.repeats`` times."""
    from benchmarks.workloads import spin as time_spin

    counts, mix, sizes_name = chosen_sizes(options)
    use_ray_environment()
    calibration = calibrate(DURATIONS_S, lambda loops: time_spin(loops)[1])
    log(
        "realwork: calibrated "
        + ", ".join(
            f"{size_label(d)} = {calibration.loops[d]:,} loops ({calibration.solo_s[d] * 1e3:.2f} "
            "ms solo)"
            for d in DURATIONS_S
        )
    )
    workloads = build_workloads(counts, mix)
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {w.label: [] for w in workloads} for name in CONTENDERS
    }
    order: list[list[str]] = []
    for repeat in range(options.repeats):
        names = rotated(CONTENDERS, repeat)
        order.append(names)
        for name in names:
            log(f"realwork: repeat {repeat + 1}, {name}: starting")
            with SESSIONS[name]() as session:
                warm_up(session, calibration)
                for workload in workloads:
                    sample = measure(session, workload, calibration)
                    runs[name][workload.label].append(sample)
                    log(
                        f"realwork: {name} {workload.label}: wall {sample['wall_s']:.2f}s, "
                        f"efficiency {sample['efficiency']:.3f}, slow-down "
                        f"{sample['slowdown']:.3f}, busy {sample['busy_share']:.3f}"
                    )
    result = BenchmarkResult(
        name="realwork", title=f"Real work: CPU-bound tasks on {SLOTS} slots ({SLOTS} cores)"
    )
    result.data = {
        "slots": SLOTS,
        "sizes": sizes_name,
        "counts": {size_label(d): n for d, n in counts.items()},
        "mix": {size_label(d): n for d, n in mix.items()},
        "calibration": {
            "loops_per_s": calibration.loops_per_s,
            **{
                size_label(d): {
                    "loops": calibration.loops[d],
                    "solo_s": calibration.solo_s[d],
                    "samples_s": calibration.samples_s[d],
                }
                for d in DURATIONS_S
            },
        },
        "runs": runs,
        "order": order,
    }
    tables_targets_notes(result, workloads, calibration, runs, sizes_name)
    return result
