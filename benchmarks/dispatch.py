"""Benchmark 1: dispatch throughput of no-op tasks, orchestrator vs plain Ray.

One embedded local Ray (``address="local"``, 2 CPUs, no dashboard) started by the
`Orchestrator` is shared by every contender, in this process. Each contender is timed
twice over: *fetching* every result into the driver, and *not fetching* (the wall stops
when every task has finished):

- ``orchestrator``: a `Workflow` of N independent function tasks (`workloads.noop`,
  pickled by reference), with the function agents already running (a small warm-up
  workflow just before starts them, as in a long-lived orchestrator). Not fetching: from
  ``submit`` until the workflow succeeded; fetching: the same plus ``run.results()``;
- ``orchestrator (cold)``: the same with no agent alive, so starting the agents is inside
  the timed window;
- ``orchestrator, tracing on``: the warm orchestrator of a second supervisor whose
  settings trace every attempt (the JSONL span exporter, into a temporary directory);
- ``ray tasks``: N plain Ray tasks (1 CPU each); fetching: ``ray.get(refs)``; not
  fetching: ``ray.wait(refs, num_returns=N, fetch_local=False)``;
- ``ray tasks, batches of 64``: what a Ray user writes for tiny tasks: ceil(N / 64) Ray
  tasks that each run 64 no-ops and return their 64 results as one list;
- ``ray actor``: N calls to one actor, fetched or waited for the same two ways.

Fairness: idle function agents hold their CPUs until ``idle_agent_timeout_s``, which would
starve plain Ray tasks (and the other supervisor's agents). The orchestrators run with a
short idle timeout, and before every run the benchmark waits until both supervisors have
retired every agent and Ray shows both CPUs free (a warm run then starts its agents with
its warm-up workflow). The order of the runs rotates from repeat to repeat.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Stopwatch,
    Table,
    TargetCheck,
    fmt,
    log,
    median,
    orchestrator_settings,
    rate,
    ratio,
    rotated,
    use_ray_environment,
    wait_until,
)
from benchmarks.workloads import NoopActor, noop

#: Tasks per timed run (default and ``--quick``).
NUM_TASKS = 10_000
QUICK_NUM_TASKS = 2_000
#: CPUs of the embedded Ray.
NUM_CPUS = 2
#: Idle agents are retired after this long (short, so plain Ray gets the CPUs back soon).
IDLE_AGENT_TIMEOUT_S = 1.5
#: Tasks of the warm-up workflow that starts the agents before a warm run.
WARM_UP_TASKS = 256
#: No-ops per Ray task of the batched baseline.
RAY_BATCH = 64
#: Name of the second supervisor, the one that traces.
TRACED_SUPERVISOR = "dispatch-traced"

ORCHESTRATOR = "orchestrator"
ORCHESTRATOR_COLD = "orchestrator (cold)"
ORCHESTRATOR_TRACED = "orchestrator, tracing on"
RAY_TASKS = "ray tasks"
RAY_BATCHES = f"ray tasks, batches of {RAY_BATCH}"
RAY_ACTOR = "ray actor"
CONTENDERS = (
    ORCHESTRATOR,
    ORCHESTRATOR_COLD,
    ORCHESTRATOR_TRACED,
    RAY_TASKS,
    RAY_BATCHES,
    RAY_ACTOR,
)
#: The Ray contenders: each is run once fetching and once not (the orchestrators' one run
#: gives both times).
RAY_CONTENDERS = (RAY_TASKS, RAY_BATCHES, RAY_ACTOR)
#: Sample keys: wall with every result fetched into the driver, and without.
FETCHED, NOT_FETCHED = "fetched_s", "not_fetched_s"


def noop_batch(count: int) -> list[None]:
    """Run ``count`` no-ops in one task; return their results (the batched Ray baseline)."""
    results: list[None] = []
    for _ in range(count):
        noop()
        results.append(None)
    return results


def build_noop_workflow(num_tasks: int, name: str = "dispatch") -> Any:
    """Return the `WorkflowSpec` of ``num_tasks`` independent no-op function tasks."""
    from orchestrator import Workflow

    workflow = Workflow(name)
    for index in range(num_tasks):
        workflow.task(f"noop-{index}", noop)
    return workflow.to_spec()


def _settings(supervisor_name: str, spans_path: Path | None) -> Any:
    from orchestrator.core.config import SchedulerConfig
    from orchestrator.settings import TracingSettings

    tracing = (
        TracingSettings(exporter="jsonl", jsonl_path=str(spans_path))
        if spans_path is not None
        else TracingSettings()
    )
    return orchestrator_settings(
        NUM_CPUS,
        ray={"supervisor_name": supervisor_name},
        scheduler=SchedulerConfig(idle_agent_timeout_s=IDLE_AGENT_TIMEOUT_S),
        tracing=tracing,
    )


class DispatchBench:
    """The contenders, sharing one Ray; two supervisors (tracing off and on)."""

    def __init__(self, num_tasks: int) -> None:
        import ray

        from orchestrator import Orchestrator

        use_ray_environment()
        self.num_tasks = num_tasks
        self._ray = ray
        self._spans_dir = tempfile.TemporaryDirectory(prefix="dispatch-spans-")
        self.spans_path = Path(self._spans_dir.name) / "spans.jsonl"
        self.orchestrator = Orchestrator(settings=_settings("supervisor", None)).start()
        # A second supervisor on the same Ray (this process is connected: it joins it).
        self.traced = Orchestrator(settings=_settings(TRACED_SUPERVISOR, self.spans_path))
        self.traced.start()
        self._remote_noop = ray.remote(noop)
        self._remote_batch = ray.remote(noop_batch)
        self._actor: Any = None
        self._runs = 0

    def close(self) -> dict[str, Any]:
        """Stop the actor and both orchestrators (and Ray); return what they report."""
        stats: dict[str, Any] = {}
        try:
            stats = self._ray.get(self.orchestrator.supervisor.process_stats.remote())
        finally:
            if self._actor is not None:
                self._ray.kill(self._actor)
            try:
                self.traced.shutdown()  # flushes the spans
            finally:
                self.orchestrator.shutdown()
        spans = self.spans_path.read_text().count("\n") if self.spans_path.exists() else 0
        self._spans_dir.cleanup()
        return {"supervisor": stats, "spans_exported": spans}

    # -- helpers ---------------------------------------------------------------------------

    def _agents(self) -> int:
        return sum(
            len(self._ray.get(orchestrator.supervisor.agents.remote()))
            for orchestrator in (self.orchestrator, self.traced)
        )

    def wait_for_free_cpus(self) -> float:
        """Wait until no agent is alive and Ray has every CPU free; return seconds waited."""

        def free() -> bool:
            cpus = self._ray.available_resources().get("CPU", 0.0)
            return not self._agents() and cpus >= NUM_CPUS

        return wait_until(free, timeout_s=60, poll_s=0.1, what="agents retired, CPUs free")

    def _run_workflow(self, orchestrator: Any, num_tasks: int) -> dict[str, float]:
        """Submit a no-op workflow, wait for it, fetch its results; return the times."""
        watch = Stopwatch()
        spec = build_noop_workflow(num_tasks)
        build_s = watch.elapsed_s()
        self._runs += 1
        watch = Stopwatch()
        run = orchestrator.submit(spec, workflow_id=f"dispatch-{self._runs}")
        submit_s = watch.elapsed_s()
        status = run.wait()
        not_fetched_s = watch.elapsed_s()
        results = run.results()
        fetched_s = watch.elapsed_s()
        if status.total != num_tasks or status.state.value != "succeeded":
            raise RuntimeError(f"dispatch workflow ended {status.state}: {status.counts}")
        if len(results) != num_tasks:
            raise RuntimeError(f"run.results() gave {len(results)} of {num_tasks} results")
        run.release()  # untimed: forget the workflow and its results before the next run
        return {
            "build_s": build_s,
            "submit_s": submit_s,
            NOT_FETCHED: not_fetched_s,
            FETCHED: fetched_s,
        }

    def _warm(self, orchestrator: Any) -> dict[str, float]:
        self.wait_for_free_cpus()
        self._run_workflow(orchestrator, WARM_UP_TASKS)
        agents = self._agents()
        return {**self._run_workflow(orchestrator, self.num_tasks), "agents": agents}

    def _timed_refs(self, submit: Callable[[int], list[Any]], fetch: bool) -> dict[str, float]:
        """Time ``submit(N)`` and then fetching (``ray.get``) or waiting for its refs."""
        self.wait_for_free_cpus()
        ray = self._ray
        ray.get(submit(WARM_UP_TASKS))  # warm-up, untimed
        watch = Stopwatch()
        refs = submit(self.num_tasks)
        if not fetch:
            ray.wait(refs, num_returns=len(refs), fetch_local=False)
            return {NOT_FETCHED: watch.elapsed_s()}
        values = ray.get(refs)
        wall_s = watch.elapsed_s()
        count = sum(len(value) if isinstance(value, list) else 1 for value in values)
        if count != self.num_tasks:
            raise RuntimeError(f"ray.get gave {count} of {self.num_tasks} results")
        return {FETCHED: wall_s}

    # -- contenders ------------------------------------------------------------------------

    def run(self, name: str, fetch: bool) -> dict[str, float]:
        """Run ``name`` once (for a Ray contender, ``fetch`` says which way)."""
        if name == ORCHESTRATOR:
            return self._warm(self.orchestrator)
        if name == ORCHESTRATOR_TRACED:
            return self._warm(self.traced)
        if name == ORCHESTRATOR_COLD:
            self.wait_for_free_cpus()
            return self._run_workflow(self.orchestrator, self.num_tasks)
        if name == RAY_TASKS:
            remote = self._remote_noop
            return self._timed_refs(lambda n: [remote.remote() for _ in range(n)], fetch)
        if name == RAY_BATCHES:
            batch = self._remote_batch

            def batches(n: int) -> list[Any]:
                return [batch.remote(min(RAY_BATCH, n - i)) for i in range(0, n, RAY_BATCH)]

            return self._timed_refs(batches, fetch)
        if self._actor is None:
            self._actor = self._ray.remote(NoopActor).remote()
            self._ray.get(self._actor.ready.remote())
        actor = self._actor
        return self._timed_refs(lambda n: [actor.noop.remote() for _ in range(n)], fetch)


def _label(name: str, fetch: bool) -> str:
    if name not in RAY_CONTENDERS:
        return name
    return f"{name} ({'fetching' if fetch else 'not fetching'})"


#: Each timed run by its label: (contender, fetching); an orchestrator's one run times
#: both ways.
RUNS = {
    _label(name, fetch): (name, fetch)
    for name in CONTENDERS
    for fetch in ((True,) if name not in RAY_CONTENDERS else (True, False))
}


def run(options: RunOptions) -> BenchmarkResult:
    """Run the dispatch benchmark; return its result."""
    num_tasks = QUICK_NUM_TASKS if options.quick else NUM_TASKS
    result = BenchmarkResult(
        name="dispatch", title=f"Dispatch throughput: {num_tasks:,} no-op tasks"
    )
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    order: list[list[str]] = []
    log("dispatch: starting Ray and the orchestrators")
    bench = DispatchBench(num_tasks)
    try:
        log("dispatch: warm-up round")
        for name, fetch in RUNS.values():
            bench.run(name, fetch)
        for repeat in range(options.repeats):
            labels = rotated(list(RUNS), repeat)
            order.append(labels)
            merged: dict[str, dict[str, float]] = {name: {} for name in CONTENDERS}
            for label in labels:
                name, fetch = RUNS[label]
                sample = bench.run(name, fetch)
                merged[name].update(sample)
                wall = sample.get(FETCHED, sample.get(NOT_FETCHED, math.nan))
                log(f"dispatch: repeat {repeat + 1} {label}: {wall:.3f}s")
            for name in CONTENDERS:
                samples[name].append(merged[name])
    finally:
        closed = bench.close()
    result.data = {"num_tasks": num_tasks, "samples": samples, "order": order, **closed}
    _report(result, num_tasks, samples, closed["spans_exported"])
    return result


def _medians(samples: dict[str, list[dict[str, float]]], key: str) -> dict[str, float]:
    return {name: median([s[key] for s in runs if key in s]) for name, runs in samples.items()}


def _report(
    result: BenchmarkResult,
    num_tasks: int,
    samples: dict[str, list[dict[str, float]]],
    spans: int,
) -> None:
    fetched, not_fetched = _medians(samples, FETCHED), _medians(samples, NOT_FETCHED)
    build, submit = _medians(samples, "build_s"), _medians(samples, "submit_s")
    tables = []
    for title, walls in (
        ("every result fetched into the driver", fetched),
        ("not fetching: the wall stops when every task has finished", not_fetched),
    ):
        table = Table(
            f"Throughput, {title} (medians)",
            [
                "contender",
                "wall (s)",
                "tasks/s",
                "vs ray tasks",
                f"vs batches of {RAY_BATCH}",
                "build (s)",
                "submit (s)",
            ],
        )
        for name in CONTENDERS:
            table.add(
                name,
                walls[name],
                rate(num_tasks, walls[name]),
                ratio(walls[RAY_TASKS], walls[name]),
                ratio(walls[RAY_BATCHES], walls[name]),
                build[name],
                submit[name],
            )
        tables.append(table)
    tracing = Table(
        "Tracing on vs off (warm orchestrator, medians)",
        ["measure", "tracing off (tasks/s)", "tracing on (tasks/s)", "on / off"],
    )
    for label, walls in (("fetching", fetched), ("not fetching", not_fetched)):
        off, on = walls[ORCHESTRATOR], walls[ORCHESTRATOR_TRACED]
        tracing.add(label, rate(num_tasks, off), rate(num_tasks, on), ratio(off, on))
    tables.append(tracing)
    repeats = max(len(runs) for runs in samples.values())
    spread = Table(
        "Every repeat: tasks/s, fetching / not fetching",
        ["contender", *[f"#{i + 1}" for i in range(repeats)]],
    )
    for name in CONTENDERS:
        runs = samples[name] + [{}] * (repeats - len(samples[name]))  # a missing run: "-"
        spread.add(
            name,
            *[
                f"{fmt(rate(num_tasks, s.get(FETCHED, math.nan)))} / "
                f"{fmt(rate(num_tasks, s.get(NOT_FETCHED, math.nan)))}"
                for s in runs
            ],
        )
    result.tables = [*tables, spread]
    result.targets = [
        _target(fetched, RAY_TASKS, "plain Ray tasks"),
        _target(fetched, RAY_BATCHES, f"Ray tasks in batches of {RAY_BATCH}"),
    ]
    result.notes = _notes(spans)


def _target(fetched: dict[str, float], baseline: str, words: str) -> TargetCheck:
    """The orchestrator's tasks/s over ``baseline``'s, both fetching every result."""
    warm = ratio(fetched[baseline], fetched[ORCHESTRATOR])
    cold = ratio(fetched[baseline], fetched[ORCHESTRATOR_COLD])
    return TargetCheck(
        f"dispatch, every result fetched: orchestrator / {words} (tasks/s)",
        ">= 1.0",
        f"{warm:.2f} (cold agents: {cold:.2f})",
        None if math.isnan(warm) else warm >= 1.0,
    )


def _notes(spans: int) -> list[str]:
    return [
        f"One embedded Ray, `ray.init(address='local', num_cpus={NUM_CPUS}, "
        "include_dashboard=False)` started by the `Orchestrator`, shared by every contender; "
        "RAY_USAGE_STATS_ENABLED=0, auth disabled, orchestrator log level WARNING.",
        "Fetching vs not: each contender is timed both ways, and every ratio compares like "
        "with like (fetching with fetching, not fetching with not fetching). The targets "
        "are the fetching ones: the same work on both sides, every result in the driver.",
        "orchestrator: a `Workflow` of independent tasks running the module-level function "
        "`benchmarks.workloads:noop` (pickled by reference, 1 CPU per function agent). Not "
        "fetching: wall = `submit` + `wait` until the workflow succeeded; fetching: the same "
        "run, plus `run.results()` (every result read into the driver) inside the wall. "
        "`build` (making the Workflow and its spec) is not in the wall; `submit` is the part "
        "of it until `submit` returned (driver-side checks, sending the spec, validation).",
        f"orchestrator (warm): a {WARM_UP_TASKS}-task workflow runs just before, so the "
        "function agents are up, as in a long-lived orchestrator; orchestrator (cold): no "
        "agent is alive when the workflow is submitted.",
        "orchestrator, tracing on: the warm orchestrator of a second supervisor on the same "
        "Ray whose settings say `tracing.exporter='jsonl'` (a span per workflow, per task "
        f"attempt, into a temporary file: {spans:,} spans exported over the whole run); the "
        "other orchestrators trace with the no-op tracer (`exporter='none'`).",
        "ray tasks / ray actor: fetching = `ray.get(refs)`; not fetching = `ray.wait(refs, "
        "num_returns=len(refs), fetch_local=False)`; each way is its own run.",
        f"ray tasks, batches of {RAY_BATCH}: what a Ray user writes for tiny tasks: "
        f"ceil(N / {RAY_BATCH}) tasks, each running {RAY_BATCH} no-ops and returning their "
        "results as one list (fetching: `ray.get` of those lists).",
        f"Fairness: idle agents hold their CPU, so the orchestrators run with "
        f"idle_agent_timeout_s={IDLE_AGENT_TIMEOUT_S}, and every run first waits until both "
        f"supervisors retired every agent and Ray shows all {NUM_CPUS} CPUs free. Plain Ray "
        f"tasks use 1 CPU each, like a function agent. Ray contenders run {WARM_UP_TASKS} "
        "untimed calls first; the actor is created once, outside the timing.",
        "A warm-up round runs every contender once before the timed repeats; the order of "
        "the runs rotates from repeat to repeat (`data.order` in the JSON).",
        "`vs ray tasks` / `vs batches` = the row's tasks/s over that baseline's, the same "
        "way (fetching or not): above 1.0 the row is faster.",
        "The orchestrator sends short tasks in batches (up to `max_batch_size`=64 attempts "
        "per call, sized from the measured task duration) and keeps one call more than an "
        "agent runs in flight: that, not faster Ray calls, is where its lead over plain Ray "
        "tasks comes from; the batches-of-64 baseline does the same batching by hand "
        "(with no scheduling, retries or tracking), which is what makes it the harder "
        "comparison.",
        "What would make a comparison unfair: the batches-of-64 baseline knows every task "
        "is a no-op and packs them blindly (one failure fails 64 tasks, there is no "
        "per-task state, retry, priority or result kept by task id); the orchestrator "
        "tracks each task on its own, which is a fixed cost per task that batching "
        "cannot remove. Not fetching favours whoever keeps results away from the driver; "
        "fetching includes `run.results()`, which for the orchestrator is one more call "
        "to the supervisor after the workflow ended (not overlapped with the run, as "
        "`ray.get` of plain tasks is).",
    ]
