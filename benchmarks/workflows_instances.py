"""The workflows benchmark's instances: WfCommons files, their import, scale and bounds.

Synthetic instances of real scientific workflows are generated with ``wfcommons`` (seeded)
and kept, compacted, under ``benchmarks/instances/``. `load_instance` imports one with
`orchestrator.wfformat.load_wfformat` at the scale that makes its lower bound last a
chosen time and computes its bounds and the policy's simulated makespan.

Every task of those instances needs 1 core. `multi_core_document` derives a variant in
which every task of some categories declares 2 cores, so that multi-core tasks are
exercised on every engine (Ray ``num_cpus``, Dask slot resources, the orchestrator's
declared CPUs).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import REPO_ROOT, log

#: Where compacted instances are cached (small files, committed).
INSTANCES_DIR = REPO_ROOT / "benchmarks" / "instances"
SEED = 42
#: CPUs every engine gets.
SLOTS = 4


def compact_instance(document: dict[str, Any]) -> dict[str, Any]:
    """Return a WfFormat 1.5+ document reduced to what `load_wfformat` reads.

    Kept: name, schema version, each task's id, name and parents (children are implied),
    runtime and core count. Dropped: files, machines, commands, metrics.
    """
    workflow = document["workflow"]
    spec_tasks = [
        {key: task[key] for key in ("id", "name", "parents") if key in task}
        for task in workflow["specification"]["tasks"]
    ]
    exec_tasks = [
        {key: task[key] for key in ("id", "runtimeInSeconds", "coreCount") if key in task}
        for task in workflow["execution"]["tasks"]
    ]
    return {
        "name": document["name"],
        "description": "Compacted by benchmarks/workflows.py: structure, runtimes and cores.",
        "schemaVersion": document["schemaVersion"],
        "workflow": {
            "specification": {"tasks": spec_tasks},
            "execution": {"tasks": exec_tasks},
        },
    }


def multi_core_document(path: Path, categories: tuple[str, ...], cores: int) -> dict[str, Any]:
    """Return the compacted instance at ``path`` with ``cores`` cores on some categories.

    A task's category is its WfFormat ``name`` (``frequency`` for ``frequency_00000012``):
    every task of the given categories declares ``coreCount = cores``, the others keep
    theirs.

    Raises:
        ValueError: no task belongs to ``categories`` (the variant would equal the base).
    """
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    workflow = document["workflow"]
    chosen = {
        task["id"] for task in workflow["specification"]["tasks"] if task["name"] in categories
    }
    if not chosen:
        raise ValueError(f"no task of {path.name} belongs to {categories}")
    for task in workflow["execution"]["tasks"]:
        if task["id"] in chosen:
            task["coreCount"] = cores
    document["name"] = f"{document['name']}-{cores}core"
    return document


def instance_path(recipe: str, num_tasks: int, seed: int = SEED) -> Path:
    """Return where the compacted instance of ``recipe`` and size is cached."""
    return INSTANCES_DIR / f"{recipe}-{num_tasks}-seed{seed}.json"


def ensure_instance(recipe: str, num_tasks: int, seed: int = SEED) -> Path:
    """Return the cached instance, generating it with wfcommons (seeded) when missing."""
    path = instance_path(recipe, num_tasks, seed)
    if path.exists():
        return path
    from benchmarks.baselines.compare import generate_instance

    log(f"workflows: generating {recipe} with about {num_tasks} tasks (wfcommons, seed {seed})")
    with tempfile.TemporaryDirectory() as scratch:
        generated = generate_instance(recipe, num_tasks, Path(scratch), seed)
        document = json.loads(generated.read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(compact_instance(document), separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance ready to run: its spec at the chosen scale and its lower bound.

    ``spec`` carries the exact (scaled) runtimes as ``estimated_duration_s``; the bounds
    and the two simulations are computed from them.
    """

    label: str
    spec: Any
    time_scale: float
    edges: int
    critical_path_s: float
    work_bound_s: float
    bound_s: float
    policy_s: float
    fifo_policy_s: float
    #: The staged bound (see `orchestrator.core.bounds`); 0: not computed.
    tight_bound_s: float = 0.0
    #: Tasks that declare more than one core.
    multi_core_tasks: int = 0

    @property
    def judged_bound_s(self) -> float:
        """The bound each wall time is judged against: the tighter of the two."""
        return max(self.bound_s, self.tight_bound_s)


def load_instance(
    source: Path | Mapping[str, Any], label: str, *, bound_s: float, time_scale: float | None
) -> Instance:
    """Import ``source`` at ``time_scale``, or at the scale making its lower bound ``bound_s``.

    Args:
        source: A WfFormat file, or the parsed document (e.g. from `multi_core_document`).
        label: The instance's name in tables and workflow ids.
        bound_s: The lower bound to scale to when ``time_scale`` is None.
        time_scale: One factor for every recorded runtime, or None.
    """
    from benchmarks.core_sim import simulate_makespan
    from orchestrator.core import SchedulerConfig
    from orchestrator.core.bounds import lower_bound_s, task_cores
    from orchestrator.wfformat import load_wfformat

    if time_scale is None:
        unscaled = lower_bound_s(load_wfformat(source, max_cores=SLOTS, name=label), SLOTS)
        time_scale = bound_s / unscaled.bound_s if unscaled.bound_s > 0 else 0.0
    spec = load_wfformat(source, time_scale=time_scale, max_cores=SLOTS, name=label)
    bound = lower_bound_s(spec, SLOTS)
    return Instance(
        label=label,
        spec=spec,
        time_scale=time_scale,
        edges=sum(len(task.depends_on) for task in spec.tasks),
        critical_path_s=bound.critical_path_s,
        work_bound_s=bound.work_bound_s,
        bound_s=bound.bound_s,
        policy_s=simulate_makespan(spec, slots=SLOTS),
        fifo_policy_s=simulate_makespan(
            spec, slots=SLOTS, config=SchedulerConfig(rank_by_critical_path=False)
        ),
        tight_bound_s=bound.tight_bound_s,
        multi_core_tasks=sum(1 for task in spec.tasks if task_cores(task) > 1),
    )


def warm_up_spec() -> Any:
    """Return a small workflow that starts one worker or agent per slot on any engine."""
    from orchestrator import Workflow
    from orchestrator.wfformat import SIMULATE_FUNCTION

    workflow = Workflow("warm-up")
    for index in range(2 * SLOTS):
        workflow.task(
            f"warm-{index}", SIMULATE_FUNCTION, args=(0.2, "sleep"), resources={"num_cpus": 1}
        )
    return workflow.to_spec()
