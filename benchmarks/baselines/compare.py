"""Compare plain Ray and Dask with the makespan lower bound on WfCommons workflows.

::

    python -m benchmarks.baselines.compare --recipes montage,epigenomics --tasks 100,200 \
        --slots 4 --work-s 10

For each recipe and size, a synthetic instance is generated with ``wfcommons`` (seeded),
written to ``--instances-dir``, imported with `orchestrator.wfformat.read_wfformat` at the
time scale that makes its total sequential work ``--work-s`` seconds, and run on every
engine. Each row gives wall time / lower bound, where the bound is
``max(critical path, total work / slots)`` (`orchestrator.core.bounds`). Existing
instance files can be given with ``--instance`` instead.

Engines are the callables in `ENGINES`; add one there (e.g. the orchestrator itself) to
get its column.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from orchestrator.core.bounds import LowerBound, lower_bound_s
from orchestrator.wfformat import read_wfformat

#: Recipe names accepted by ``--recipes`` and their ``wfcommons.wfchef.recipes`` class.
RECIPES = {
    "blast": "BlastRecipe",
    "bwa": "BwaRecipe",
    "cycles": "CyclesRecipe",
    "epigenomics": "EpigenomicsRecipe",
    "genome": "GenomeRecipe",
    "montage": "MontageRecipe",
    "rnaseq": "RnaseqRecipe",
    "seismology": "SeismologyRecipe",
    "soykb": "SoykbRecipe",
    "srasearch": "SrasearchRecipe",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One instance on one engine."""

    instance: str
    tasks: int
    edges: int
    slots: int
    critical_path_s: float
    work_bound_s: float
    bound_s: float
    engine: str
    wall_s: float
    ratio: float


def generate_instance(recipe: str, num_tasks: int, directory: Path, seed: int) -> Path:
    """Write a synthetic ``recipe`` instance of about ``num_tasks`` tasks; return its path.

    wfcommons draws from both `random` and NumPy; both are seeded for a stable instance.
    """
    import numpy as np
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef import recipes

    random.seed(seed)
    np.random.seed(seed)
    recipe_class = getattr(recipes, RECIPES[recipe])
    workflow = WorkflowGenerator(recipe_class.from_num_tasks(num_tasks)).build_workflow()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{recipe}-{num_tasks}-seed{seed}.json"
    workflow.write_json(path)
    return path


# -- engines -----------------------------------------------------------------------------

Engine = Callable[[Any, int], float]


@contextmanager
def _ray_engine(slots: int) -> Iterator[Engine]:
    from benchmarks.baselines.ray_tasks import local_ray, run_on_ray

    with local_ray(slots):
        yield run_on_ray


@contextmanager
def _dask_engine(slots: int, processes: bool) -> Iterator[Engine]:
    from benchmarks.baselines.dask_tasks import execute_on_dask, local_dask

    with local_dask(slots, processes=processes) as client:
        yield lambda spec, n: execute_on_dask(spec, n, client=client).wall_s


#: Engine name -> context manager (given the slots) that yields ``run(spec, slots) -> wall_s``.
ENGINES: dict[str, Callable[[int], Any]] = {
    "ray": _ray_engine,
    "dask": lambda slots: _dask_engine(slots, processes=True),
    "dask-threads": lambda slots: _dask_engine(slots, processes=False),
}


def compare(
    instances: list[Path],
    *,
    slots: int,
    work_s: float,
    engines: list[str],
    mode: Literal["sleep", "compute"],
    repeat: int,
) -> list[Row]:
    """Run every instance on every engine; return one row per (instance, engine, repeat)."""
    loaded = []
    for path in instances:
        raw = read_wfformat(path)
        total_s = sum(raw.runtimes_s.values())
        scale = work_s / total_s if total_s > 0 else 0.0
        spec = read_wfformat(path, time_scale=scale, mode=mode, max_cores=slots).spec
        loaded.append((path, spec, lower_bound_s(spec, slots)))
    rows = []
    for engine in engines:
        with ENGINES[engine](slots) as run:
            for path, spec, bound in loaded:
                for _ in range(repeat):
                    wall_s = run(spec, slots)
                    rows.append(_row(path, spec, bound, engine, wall_s))
                    print(_format(rows[-1]), flush=True)
    return rows


def _row(path: Path, spec: Any, bound: LowerBound, engine: str, wall_s: float) -> Row:
    return Row(
        instance=path.stem,
        tasks=len(spec.tasks),
        edges=sum(len(task.depends_on) for task in spec.tasks),
        slots=bound.slots,
        critical_path_s=round(bound.critical_path_s, 3),
        work_bound_s=round(bound.work_bound_s, 3),
        bound_s=round(bound.bound_s, 3),
        engine=engine,
        wall_s=round(wall_s, 3),
        ratio=round(bound.ratio(wall_s), 3),
    )


def _format(row: Row) -> str:
    return (
        f"{row.instance:<28} {row.tasks:>5} tasks {row.edges:>5} edges  slots={row.slots}  "
        f"CP={row.critical_path_s:7.2f}s  W/s={row.work_bound_s:7.2f}s  "
        f"bound={row.bound_s:7.2f}s  {row.engine:<12} wall={row.wall_s:7.2f}s  "
        f"ratio={row.ratio:5.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipes", default="montage,epigenomics,cycles")
    parser.add_argument("--tasks", default="100", help="comma-separated task counts")
    parser.add_argument("--instance", action="append", default=[], help="existing instance")
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--work-s", type=float, default=10.0, help="sequential work per run")
    parser.add_argument("--engines", default="ray,dask")
    parser.add_argument("--mode", choices=("sleep", "compute"), default="sleep")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--instances-dir", type=Path, default=Path("out/wfformat"))
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    instances = [Path(p) for p in args.instance]
    if not args.instance:
        for recipe in filter(None, args.recipes.split(",")):
            for size in filter(None, args.tasks.split(",")):
                instances.append(
                    generate_instance(recipe, int(size), args.instances_dir, args.seed)
                )
    engines = [name for name in args.engines.split(",") if name]
    unknown = [name for name in engines if name not in ENGINES]
    if unknown:
        parser.error(f"unknown engine(s) {unknown}; known: {', '.join(ENGINES)}")
    rows = compare(
        instances,
        slots=args.slots,
        work_s=args.work_s,
        engines=engines,
        mode=args.mode,
        repeat=args.repeat,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
