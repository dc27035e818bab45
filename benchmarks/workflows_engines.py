"""The workflows benchmark's engines: each a session yielding ``run(spec, label) -> wall s``.

- ``orchestrator``: an `Orchestrator` whose embedded Ray has ``num_cpus=SLOTS``;
- ``ray``: plain Ray tasks, dependencies as ObjectRefs, on a Ray with ``num_cpus=SLOTS``
  (`benchmarks.baselines.ray_tasks`), submitted in rank order when the spec has estimates;
- ``dask``: Dask distributed, a `LocalCluster` with one worker of ``SLOTS`` threads and
  ``SLOTS`` slot resources (`benchmarks.baselines.dask_tasks`), each task's ``priority=``
  its rank (submitted in rank order) when the spec has estimates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from benchmarks.common import Stopwatch, orchestrator_settings
from benchmarks.workflows_instances import SLOTS

if TYPE_CHECKING:
    from orchestrator.core.config import SchedulerConfig

ORCHESTRATOR = "orchestrator"
RAY = "ray"
DASK = "dask"
ENGINES = (ORCHESTRATOR, RAY, DASK)

#: An engine session yields ``run(spec, label) -> wall seconds``.
RunFn = Callable[[Any, str], float]


@contextmanager
def orchestrator_engine(scheduler: SchedulerConfig | None = None) -> Iterator[RunFn]:
    """An orchestrator on an embedded Ray of ``SLOTS`` CPUs (``scheduler``: its settings)."""
    from orchestrator import Orchestrator, WorkflowState
    from orchestrator.core.config import SchedulerConfig

    settings = orchestrator_settings(SLOTS, scheduler=scheduler or SchedulerConfig())
    orch = Orchestrator(settings=settings).start()
    submitted = 0

    def run(spec: Any, label: str) -> float:
        nonlocal submitted
        submitted += 1
        watch = Stopwatch()
        handle = orch.submit(spec, workflow_id=f"{label}-{submitted}")
        status = handle.wait()
        wall_s = watch.elapsed_s()
        if status.state is not WorkflowState.SUCCEEDED:
            raise RuntimeError(f"{label} ended {status.state.value}: {status.counts}")
        handle.release()  # untimed: forget the workflow and its results
        return wall_s

    try:
        yield run
    finally:
        orch.shutdown()


@contextmanager
def ray_engine() -> Iterator[RunFn]:
    """Plain Ray tasks on a private local Ray of ``SLOTS`` CPUs."""
    from benchmarks.baselines.ray_tasks import local_ray, run_on_ray

    with local_ray(SLOTS):
        yield lambda spec, label: run_on_ray(spec, SLOTS)


@contextmanager
def dask_engine() -> Iterator[RunFn]:
    """Dask distributed: one worker process of ``SLOTS`` threads and slot resources."""
    from benchmarks.baselines.dask_tasks import execute_on_dask, local_dask

    with local_dask(SLOTS) as client:
        yield lambda spec, label: execute_on_dask(spec, SLOTS, client=client).wall_s


ENGINE_SESSIONS: dict[str, Callable[[], Any]] = {
    ORCHESTRATOR: orchestrator_engine,
    RAY: ray_engine,
    DASK: dask_engine,
}
