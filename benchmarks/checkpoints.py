"""Benchmark: the cost of durable state. Checkpoints of a large workflow, and their price in
a real run.

Part A, pure (no Ray): a layered DAG of 1,000, 10,000 and 100,000 tasks (layers of 100,
each task depending on one or two tasks of the layer before) runs in a `SimRuntime` until
half of its tasks have succeeded. Then, into a fresh temporary directory
(`LocalDirectoryStore`: atomic writes with fsync), the `Journal` writes the spec once, a
full checkpoint (`Scheduler.checkpoint_entry` of every task that left PENDING, plus the
results index, then `Journal.save`), delta checkpoints after about 100 more tasks changed
each (`checkpoint_entry` of those tasks only), and a fresh `Journal` loads the chain. Each
is timed and its objects weighed.

Part B, Ray: one embedded Ray of 2 CPUs; the same workflow of independent 10 ms tasks
runs on a supervisor without checkpoint storage and on one with it (every batch of
outcomes saved, the default), alternating which goes first across repeats. Wall time is
from ``submit`` to the end of the workflow.
"""

from __future__ import annotations

import random
import tempfile
from typing import Any

from benchmarks.checkpoint_runs import (
    CONTENDERS,
    NUM_CPUS,
    TARGET_RATIO,
    TASK_S,
    WARM_UP_TASKS,
    measure_runs,
)
from benchmarks.common import (
    BenchmarkResult,
    RunOptions,
    Stopwatch,
    Table,
    TargetCheck,
    gc_threshold,
    log,
    median,
    ratio,
)
from benchmarks.core_sim import SUPERVISOR_GC_THRESHOLD
from orchestrator.core import Scheduler, TaskState, WorkflowSpec
from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable.journal import Journal
from orchestrator.storage.local import LocalDirectoryStore
from orchestrator.testing import SimRuntime, SpecBuilder

# -- part A: the journal alone -----------------------------------------------------------

#: Workflow sizes of the default run and of ``--quick``.
SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
#: Tasks per layer of the DAG; each task depends on one or two of the layer before.
LAYER_WIDTH = 100
#: Agents of the simulated run, and the fake duration of each attempt.
SIM_REPLICAS = 8
SIM_TASK_S = 0.01
#: Fake seconds per step while running the simulation to half way / to the next delta.
HALF_STEP_S = 0.05
DELTA_STEP_S = 0.005
#: Tasks changed between two delta checkpoints (at least).
DELTA_TASKS = 100
#: Key prefix of the journal (a supervisor's scope looks like this).
PREFIX = "bench/checkpoints/"
WORKFLOW_ID = "wf"
EPOCH = 1
#: The target: at this size, a full checkpoint under this time and this size.
TARGET_SIZE = 10_000
TARGET_FULL_S = 0.1
TARGET_FULL_BYTES = 5_000_000


def layered_spec(num_tasks: int, *, seed: int = 0, width: int = LAYER_WIDTH) -> WorkflowSpec:
    """Return a layered DAG of ``num_tasks`` agent tasks, the same for the same arguments.

    Tasks come in layers of ``width``; each task after the first layer depends on one or
    two distinct tasks of the layer before (drawn uniformly).
    """
    rng = random.Random(seed)
    builder = SpecBuilder()
    tasks = []
    for index in range(num_tasks):
        layer = index // width
        if layer == 0:
            deps: list[str] = []
        else:
            previous = range((layer - 1) * width, layer * width)
            deps = [f"t{d}" for d in sorted(rng.sample(previous, rng.choice((1, 2))))]
        tasks.append(builder.task(f"t{index}", depends_on=deps))
    return builder.workflow(
        *tasks, agents=[builder.agent(replicas=SIM_REPLICAS)], workflow_id=WORKFLOW_ID
    )


def _succeeded(sim: SimRuntime) -> int:
    return sim.scheduler.workflow_status(WORKFLOW_ID).count(TaskState.SUCCEEDED)


def _ended(sim: SimRuntime) -> bool:
    return sim.scheduler.workflow_status(WORKFLOW_ID).state.is_terminal


def run_to_half(sim: SimRuntime, num_tasks: int) -> None:
    """Advance ``sim`` in small steps until half of the tasks have succeeded."""
    until_s = sim.clock.now_s()
    while _succeeded(sim) < num_tasks // 2:
        if _ended(sim):
            raise RuntimeError("the simulated workflow ended before half of it succeeded")
        until_s += HALF_STEP_S
        sim.run(until_s=until_s)


def advance_changed(sim: SimRuntime, count: int) -> list[str]:
    """Advance ``sim`` until at least ``count`` tasks changed; return their ids.

    "Changed" as the supervisor's durability sees it: the tasks named by the task events
    the scheduler published meanwhile (`PublishTaskEvents`).
    """
    events = sim.ledger.task_events
    mark = len(events)
    changed: dict[str, None] = {}
    until_s = sim.clock.now_s()
    while len(changed) < count and not _ended(sim):
        until_s += DELTA_STEP_S
        sim.run(until_s=until_s)
        changed.update(dict.fromkeys(event.task_id for event in events[mark:]))
        mark = len(events)
    return list(changed)


def results_index(sim: SimRuntime) -> dict[str, dict[str, str]]:
    """Return a results index as the supervisor keeps it: ``{workflow: {task: segment}}``.

    With ``save_results`` (the default) and a save after every batch of outcomes, each
    save writes one segment holding the results of the tasks that succeeded since the
    last; here one segment per `SIM_REPLICAS` successes, in the order they succeeded.
    """
    index: dict[str, str] = {}
    done = (e.task_id for e in sim.ledger.task_events if e.state is TaskState.SUCCEEDED)
    for position, task_id in enumerate(dict.fromkeys(done)):
        index[task_id] = f"{EPOCH:06d}-{position // SIM_REPLICAS + 1:09d}"
    return {WORKFLOW_ID: index}


def measure_journal(num_tasks: int, repeats: int) -> dict[str, Any]:
    """Run a layered workflow half way in a simulation; time and weigh its durable state."""
    spec = layered_spec(num_tasks, seed=num_tasks)
    sim = SimRuntime(duration_s=SIM_TASK_S)
    sim.submit(spec)
    watch = Stopwatch()
    run_to_half(sim, num_tasks)
    log(f"checkpoints: n={num_tasks:,}: half way in {watch.elapsed_s():.1f}s (simulated)")
    scheduler = sim.scheduler
    sample: dict[str, Any] = {
        "spec_s": [],
        "full_s": [],
        "full_entry_s": [],
        "full_bytes": [],
        "delta_s": [],
        "delta_entry_s": [],
        "delta_bytes": [],
        "delta_tasks": [],
        "load_s": [],
    }
    watch = Stopwatch()
    packed = PackedWorkflow.pack(spec)
    sample["pack_s"] = watch.elapsed_s()
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as root:
        store = LocalDirectoryStore(root)
        journal = Journal(store, PREFIX)
        # (1) the spec, written once when the workflow is admitted.
        for _ in range(repeats):
            watch = Stopwatch()
            journal.write_spec(packed)
            sample["spec_s"].append(watch.elapsed_s())
        sample["spec_objects"] = len(store.list(PREFIX + "blobs/"))
        sample["spec_structure_bytes"] = len(journal.blobs.get(WORKFLOW_ID, "spec.json"))
        sample["spec_values_bytes"] = len(journal.blobs.get(WORKFLOW_ID, "spec.values"))
        sample["spec_bytes"] = sample["spec_structure_bytes"] + sample["spec_values_bytes"]
        # (2) full checkpoints of the half-done workflow (the same state each time).
        results = results_index(sim)
        for _ in range(repeats):
            timed = _timed_save(journal, scheduler, None, results)
            for key, value in zip(("full_s", "full_entry_s", "full_bytes"), timed, strict=True):
                sample[key].append(value)
        sample["full_tasks"] = len(scheduler.checkpoint_entry(WORKFLOW_ID)["tasks"])
        sample["results_indexed"] = len(results[WORKFLOW_ID])
        # (3) deltas: about DELTA_TASKS more tasks changed before each.
        for _ in range(repeats):
            changed = advance_changed(sim, DELTA_TASKS)
            done_now = results_index(sim)[WORKFLOW_ID]
            new_results = {WORKFLOW_ID: {t: done_now[t] for t in changed if t in done_now}}
            timed = _timed_save(journal, scheduler, changed, new_results)
            for key, value in zip(("delta_s", "delta_entry_s", "delta_bytes"), timed, strict=True):
                sample[key].append(value)
            sample["delta_tasks"].append(len(changed))
        # (4) load the chain (the newest full checkpoint and the deltas after it).
        for _ in range(repeats):
            watch = Stopwatch()
            state = Journal(store, PREFIX).load()
            sample["load_s"].append(watch.elapsed_s())
        assert state is not None
        sample["chain"] = 1 + repeats
        sample["checkpoint_objects"] = len(journal.checkpoints.keys())
        sample["store_objects"] = len(store.list())
        sample["stale_after_load"] = _stale_tasks(
            state.workflows[WORKFLOW_ID], scheduler.checkpoint_entry(WORKFLOW_ID)
        )
    return sample


def _timed_save(
    journal: Journal,
    scheduler: Scheduler,
    task_ids: list[str] | None,
    results: dict[str, dict[str, str]],
) -> tuple[float, float, float]:
    """Take the entry of the workflow (all tasks when ``task_ids`` is None) and save it.

    Full when ``task_ids`` is None, else a delta. Returns the seconds of both together,
    the seconds of the entry alone, and the bytes of the checkpoint object written.
    """
    watch = Stopwatch()
    entry = scheduler.checkpoint_entry(WORKFLOW_ID, task_ids)
    entry_s = watch.elapsed_s()
    saved = journal.save(
        epoch=EPOCH,
        full=task_ids is None,
        workflows={WORKFLOW_ID: entry},
        results=results,
        released=[],
    )
    total_s = watch.elapsed_s()
    return total_s, entry_s, float(len(journal.store.get(saved.key)))


def _stale_tasks(loaded: dict[str, Any], live: dict[str, Any]) -> dict[str, int]:
    """Return, by live state, how many tasks the loaded chain has otherwise than the scheduler.

    A task differs when the chain lacks it or has another state or attempt count.
    """
    saved = loaded.get("tasks", {})
    stale: dict[str, int] = {}
    for task_id, fields in live["tasks"].items():
        mine = saved.get(task_id)
        if mine is None or mine[0] != fields[0] or mine[1] != fields[1]:
            stale[fields[0]] = stale.get(fields[0], 0) + 1
    return stale


# -- the benchmark -----------------------------------------------------------------------


def run(options: RunOptions) -> BenchmarkResult:
    """Run both parts; return the result."""
    sizes = QUICK_SIZES if options.quick else SIZES
    result = BenchmarkResult(
        name="checkpoints",
        title="Checkpoints: the journal of a large workflow, and their cost in a run",
    )
    journal_samples: dict[str, dict[str, Any]] = {}
    with gc_threshold(SUPERVISOR_GC_THRESHOLD):
        measure_journal(200, 1)  # warm-up: imports, first allocations
        for size in sizes:
            sample = measure_journal(size, options.repeats)
            journal_samples[str(size)] = sample
            log(
                f"checkpoints: n={size:,}: full {median(sample['full_s']) * 1e3:.1f} ms, "
                f"{median(sample['full_bytes']) / 1e6:.2f} MB; delta "
                f"{median(sample['delta_s']) * 1e3:.1f} ms; load "
                f"{median(sample['load_s']) * 1e3:.1f} ms"
            )
    num_tasks, run_samples = measure_runs(options)
    result.data = {
        "sizes": list(sizes),
        "layer_width": LAYER_WIDTH,
        "journal": journal_samples,
        "run": {"num_tasks": num_tasks, "task_s": TASK_S, "samples": run_samples},
    }
    _report(result, sizes, journal_samples, num_tasks, run_samples)
    return result


def _fmt_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {count:,}" for state, count in sorted(counts.items())) or "none"


def _fmt_bytes(num_bytes: float) -> str:
    if num_bytes >= 1e6:
        return f"{num_bytes / 1e6:.2f} MB"
    return f"{num_bytes / 1e3:.1f} KB"


def _report(
    result: BenchmarkResult,
    sizes: tuple[int, ...],
    journal: dict[str, dict[str, Any]],
    num_tasks: int,
    runs: dict[str, list[dict[str, float]]],
) -> None:
    table = Table(
        "Durable state of one workflow half done (medians)",
        [
            "tasks",
            "spec write (ms)",
            "spec size",
            "tasks in full",
            "full (ms)",
            "of which entry (ms)",
            "full size",
            "tasks in delta",
            "delta (ms)",
            "delta size",
            "load chain (ms)",
        ],
    )
    for size in sizes:
        s = journal[str(size)]
        table.add(
            size,
            median(s["spec_s"]) * 1e3,
            _fmt_bytes(s["spec_bytes"]),
            s["full_tasks"],
            median(s["full_s"]) * 1e3,
            median(s["full_entry_s"]) * 1e3,
            _fmt_bytes(median(s["full_bytes"])),
            int(median(s["delta_tasks"])),
            median(s["delta_s"]) * 1e3,
            _fmt_bytes(median(s["delta_bytes"])),
            median(s["load_s"]) * 1e3,
        )
    wall = Table(
        f"{num_tasks:,} tasks of {TASK_S * 1e3:g} ms on {NUM_CPUS} CPUs (medians)",
        ["checkpoints", "wall (s)", "checkpoints written", "ckpt files at end", "store size"],
    )
    walls: dict[str, float] = {}
    for name in CONTENDERS:
        samples = runs[name]
        walls[name] = median([s["wall_s"] for s in samples])
        on = name == "on"
        wall.add(
            name,
            walls[name],
            int(median([s["checkpoints"] for s in samples])) if on else 0,
            int(median([s["ckpt_files"] for s in samples])) if on else 0,
            _fmt_bytes(median([s["store_bytes"] for s in samples])) if on else "-",
        )
    cost = ratio(walls["on"], walls["off"])
    result.tables = [table, wall]
    target = journal.get(str(TARGET_SIZE))
    if target is not None:
        full_s, full_bytes = median(target["full_s"]), median(target["full_bytes"])
        result.targets += [
            TargetCheck(
                f"checkpoints: full checkpoint of a {TARGET_SIZE:,}-task workflow, time",
                f"< {TARGET_FULL_S * 1e3:g} ms",
                f"{full_s * 1e3:.1f} ms",
                full_s < TARGET_FULL_S,
            ),
            TargetCheck(
                f"checkpoints: full checkpoint of a {TARGET_SIZE:,}-task workflow, size",
                f"< {TARGET_FULL_BYTES / 1e6:g} MB",
                _fmt_bytes(full_bytes),
                full_bytes < TARGET_FULL_BYTES,
            ),
        ]
    result.targets.append(
        TargetCheck(
            "checkpoints: wall with checkpoints / without",
            f"<= {TARGET_RATIO}",
            f"{cost:.3f}",
            cost <= TARGET_RATIO,
        )
    )
    stale = {size: journal[str(size)]["stale_after_load"] for size in sizes}
    repeats = len(journal[str(sizes[0])]["full_s"])
    result.notes = [
        f"Part A (no Ray): a layered DAG (layers of {LAYER_WIDTH} tasks, each depending on "
        f"one or two of the layer before, seeded by the size) run by `SimRuntime` "
        f"({SIM_REPLICAS} agents, {SIM_TASK_S * 1e3:g} ms of fake time per attempt) until half "
        "of its tasks succeeded; then measured into a fresh temporary directory "
        "(`LocalDirectoryStore`: temporary file, fsync, rename, fsync of the directory).",
        "spec write = `Journal.write_spec` of the `PackedWorkflow` (its structure as JSON "
        "and its values with cloudpickle: two objects; packing not included); full = "
        "`Scheduler.checkpoint_entry(wf)` (every task that left PENDING) + "
        "`Journal.save(full=True)`, timed together, `of which entry` the first alone; the "
        "payload holds the results index too ({task: segment} of every succeeded task, one "
        f"segment per {SIM_REPLICAS} successes), as the supervisor's does with "
        "`save_results` on (the default).",
        f"delta = the simulation advanced until at least {DELTA_TASKS} more tasks changed "
        "(the task ids of the new task events, as the supervisor's durability collects them), "
        "then `checkpoint_entry(wf, ids)` + `Journal.save(full=False)` with their new "
        "results index entries. Sizes are of the checkpoint object as stored (header and "
        "payload). load = a fresh `Journal(store, prefix).load()` of the newest full "
        "checkpoint and the deltas after it.",
        f"Each measure is repeated {repeats} times (the same full state each time; each "
        "delta after its own ~100 changes); medians. The supervisor's collector setting "
        "gc.set_threshold(50_000, 20, 100) is applied.",
        "After the load, tasks whose state or attempt count in the chain differs from a "
        "fresh full entry, by their live state: "
        + "; ".join(f"{n:,} tasks: {_fmt_counts(c)}" for n, c in stale.items())
        + ". Deltas carry the tasks named by published task events and, in the supervisor, "
        "the tasks running (this part passes none); a task moved to READY publishes no "
        "event and comes back PENDING, which a restore treats alike (it is queued again as "
        "its dependencies allow).",
        f"Part B (Ray): one embedded Ray (`num_cpus={NUM_CPUS}`) for the whole part. Each "
        "run starts its own orchestrator (its own supervisor name, so nothing is restored; "
        f"with checkpoints, its own fresh storage directory), runs {WARM_UP_TASKS} tasks to "
        "start its agents, then times one workflow, stops the supervisor and waits until "
        "the agents' CPUs are free. Both contenders are set up identically but for "
        "`CheckpointSettings(storage=file://...)` (defaults: a save after every batch of "
        "outcomes, results saved, full checkpoints every 60 s). An untimed run warms Ray "
        "up first.",
        f"{num_tasks:,} independent tasks of {TASK_S * 1e3:g} ms (`workloads.hold`); the "
        "contenders alternate which goes first across repeats; wall = submit until the "
        "workflow ended (a submit with checkpoints also writes the spec and a checkpoint "
        "before it returns).",
        "Every save with checkpoints on writes a results segment, the checkpoint and the "
        "`LATEST` pointer (each fsynced with its directory). The supervisor prepares a "
        "save on its event loop (the entries of what changed, the refs of new results) and "
        "a worker thread writes it, one save at a time; what changes meanwhile goes into "
        "the next save, so the number of saves adapts to the speed of the disk "
        "(`every_n_completions=1`: a save is due after every batch of outcomes).",
        "checkpoints written = sequence numbers taken during the timed workflow "
        "(`last_checkpoint` before and after); ckpt files at end = `ckpt-` objects in the "
        "storage's `checkpoints/` after the supervisor stopped (warm-up, timed run and the "
        "last save at shutdown, less what garbage collection removed); store size = every "
        "byte in the storage directory then (released workflows' specs and results are "
        "deleted).",
    ]
