"""Part B of the checkpoints benchmark: one workflow on Ray with checkpoint storage on and off.

One embedded Ray of 2 CPUs for the whole part. Each run starts its own orchestrator (its
own supervisor name; with checkpoints, its own fresh storage directory), warms its agents
up, times one workflow of independent 10 ms tasks from ``submit`` to its end, and stops
the supervisor. The two contenders alternate which goes first across repeats. See
`benchmarks.checkpoints` for the report.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import RunOptions, Stopwatch, log, use_ray_environment, wait_until
from benchmarks.workloads import hold
from orchestrator.core import TaskState

# -- part B: a run with and without checkpoints ------------------------------------------

NUM_TASKS = 1_000
QUICK_NUM_TASKS = 300
TASK_S = 0.01
WARM_UP_TASKS = 100
NUM_CPUS = 2
TARGET_RATIO = 1.02
CONTENDERS = ("off", "on")


# -- part B ------------------------------------------------------------------------------


def build_workflow(num_tasks: int, name: str) -> Any:
    """Return the Ray workflow: ``num_tasks`` independent `hold` tasks of `TASK_S`."""
    from orchestrator import Workflow

    workflow = Workflow(name)
    for index in range(num_tasks):
        workflow.task(f"task-{index}", hold, args=(TASK_S,))
    return workflow.to_spec()


def _sequence(key: str | None) -> int:
    """Return the sequence number of a checkpoint key (0 for None: none written)."""
    return 0 if key is None else int(key.rsplit("ckpt-", 1)[-1])


def _last_checkpoint(orchestrator: Any) -> str | None:
    import ray

    key: str | None = ray.get(orchestrator.client.handle.last_checkpoint.remote())
    return key


def _store_usage(storage: Path) -> dict[str, float]:
    files = [path for path in storage.rglob("*") if path.is_file()]
    checkpoints = [path for path in files if path.name.startswith("ckpt-")]
    checkpoints = [path for path in checkpoints if path.parent.name == "checkpoints"]
    return {
        "ckpt_files": float(len(checkpoints)),
        "ckpt_bytes": float(sum(path.stat().st_size for path in checkpoints)),
        "store_files": float(len(files)),
        "store_bytes": float(sum(path.stat().st_size for path in files)),
    }


def run_one(
    contender: str, label: str, num_tasks: int, storage: Path, warm_up: int = WARM_UP_TASKS
) -> dict[str, float]:
    """Start a supervisor (checkpoints ``on`` or ``off``), warm it up, time one workflow.

    Uses the Ray this process is connected to; stops the supervisor and its agents after,
    and waits until their CPUs are free again.
    """
    import ray

    from orchestrator import Orchestrator
    from orchestrator.settings import (
        CheckpointSettings,
        LoggingSettings,
        RaySettings,
        Settings,
    )

    checkpoint = CheckpointSettings(storage=storage.as_uri() if contender == "on" else "")
    settings = Settings(
        ray=RaySettings(
            num_cpus=NUM_CPUS,
            auth_mode="disabled",
            log_to_driver=False,
            supervisor_name=f"bench-{label}",
        ),
        logging=LoggingSettings(level="ERROR"),
        checkpoint=checkpoint,
    )
    sample: dict[str, float] = {}
    with Orchestrator(settings=settings) as orchestrator:
        if warm_up:
            warm = orchestrator.submit(build_workflow(warm_up, f"{label}-warm-up"))
            warm.wait()
            warm.release()
        before = _sequence(_last_checkpoint(orchestrator))
        spec = build_workflow(num_tasks, label)
        watch = Stopwatch()
        run = orchestrator.submit(spec, workflow_id=label)
        status = run.wait()
        sample["wall_s"] = watch.elapsed_s()
        sample["succeeded"] = float(status.count(TaskState.SUCCEEDED))
        after = _sequence(_last_checkpoint(orchestrator))
        sample["checkpoints"] = float(after - before)
        sample["checkpoints_total"] = float(after)
        run.release()
    if contender == "on":
        sample.update(_store_usage(storage))
    wait_until(
        lambda: ray.available_resources().get("CPU", 0.0) >= NUM_CPUS,
        timeout_s=60,
        what="the agents' CPUs to be free",
    )
    return sample


def measure_runs(options: RunOptions) -> tuple[int, dict[str, list[dict[str, float]]]]:
    """Run part B; return the workflow size and the samples of each contender."""
    from orchestrator.runtime.cluster import connect, disconnect
    from orchestrator.settings import RaySettings

    num_tasks = QUICK_NUM_TASKS if options.quick else NUM_TASKS
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    use_ray_environment()
    log("checkpoints: starting Ray")
    owns_ray = connect(RaySettings(num_cpus=NUM_CPUS, auth_mode="disabled", log_to_driver=False))
    try:
        with tempfile.TemporaryDirectory(prefix="bench-checkpoints-ray-") as root:
            # One untimed run first: Ray's worker processes and imports warm up.
            run_one("off", "ckpt-warm-up", WARM_UP_TASKS, Path(root) / "warm-up", warm_up=0)
            for repeat in range(options.repeats):
                for name in CONTENDERS if repeat % 2 == 0 else CONTENDERS[::-1]:
                    label = f"ckpt-{repeat}-{name}"
                    sample = run_one(name, label, num_tasks, Path(root) / label)
                    samples[name].append(sample)
                    log(
                        f"checkpoints: repeat {repeat + 1} checkpoints {name}: "
                        f"{sample['wall_s']:.2f}s, {sample['checkpoints']:.0f} checkpoints"
                    )
    finally:
        if owns_ray:
            disconnect()
    return num_tasks, samples
