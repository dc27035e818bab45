"""The plain-Ray and Dask baselines run an imported workflow in order, within the slots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from benchmarks.baselines.common import BaselineRun, plan
from benchmarks.baselines.ray_tasks import execute_on_ray, local_ray, run_on_ray
from orchestrator.core.bounds import lower_bound_s
from orchestrator.core.specs import OutputOf, TaskSpec, WorkflowSpec
from orchestrator.wfformat import load_wfformat

pytestmark = pytest.mark.integration

SLOTS = 2
VALID_15 = Path(__file__).resolve().parents[1] / "data" / "wfformat" / "valid-1.5.json"
# 1/100 of the recorded runtimes, cores capped at the 2 slots: CP 0.46 s, work 0.93 CPU-s.
SPEC = load_wfformat(VALID_15, time_scale=0.01, max_cores=SLOTS)
ARITHMETIC = WorkflowSpec(
    name="arithmetic",
    tasks=(
        TaskSpec(id="add", function="operator:add", args=(1, 2)),
        TaskSpec(id="mul", function="operator:mul", args=(OutputOf(output_of="add"), 10)),
        TaskSpec(
            id="pair",
            function="builtins:divmod",
            kwargs={},
            args=(OutputOf(output_of="mul"), 7),
            resources={"num_cpus": 0.5},
        ),
    ),
)


def test_ray_baseline_needs_a_running_ray() -> None:
    if ray.is_initialized():  # pragma: no cover - another module left its Ray running
        pytest.skip("a Ray is already running in this process")
    with pytest.raises(RuntimeError, match="start Ray first"):
        execute_on_ray(SPEC, SLOTS)


@pytest.fixture(scope="module")
def local_ray_2() -> Iterator[None]:
    # local_ray: ray.init(address="local", num_cpus=2, include_dashboard=False), no usage
    # stats, and ray.shutdown() when the module is done.
    with local_ray(SLOTS):
        yield


def _assert_dependencies_held(spec: WorkflowSpec, run: BaselineRun) -> None:
    for task in spec.tasks:
        started, _ = run.spans[task.id]
        for dep in task.dependencies():
            assert run.spans[dep][1] <= started, f"{task.id} started before {dep} ended"


def _peak_cpus(spec: WorkflowSpec, run: BaselineRun) -> float:
    cores = {task.id: (task.resources.num_cpus if task.resources else 1.0) for task in spec.tasks}
    events = []
    for task_id, (started, finished) in run.spans.items():
        events.append((started, 1, cores[task_id]))
        events.append((finished, 0, -cores[task_id]))  # ends sort before starts at a tie
    busy = peak = 0.0
    for _, _, delta in sorted(events):
        busy += delta
        peak = max(peak, busy)
    return peak


def _assert_good_run(run: BaselineRun, engine: str) -> None:
    bound = lower_bound_s(SPEC, SLOTS)
    assert bound.critical_path_s == pytest.approx(0.46)
    assert bound.total_work_s == pytest.approx(0.93)
    assert run.engine == engine
    assert run.slots == SLOTS
    assert set(run.spans) == {task.id for task in SPEC.tasks}
    _assert_dependencies_held(SPEC, run)
    assert _peak_cpus(SPEC, run) <= SLOTS
    # Every task slept at least its duration, so no run can beat the lower bound.
    for task in SPEC.tasks:
        started, finished = run.spans[task.id]
        assert finished - started >= task.args[0]
        assert run.results[task.id] >= task.args[0]
    assert bound.bound_s <= run.wall_s < bound.bound_s + 5.0


def test_ray_runs_the_graph_in_dependency_order_within_the_slots(local_ray_2: None) -> None:
    run = execute_on_ray(SPEC, SLOTS)

    _assert_good_run(run, "ray")
    assert run_on_ray(SPEC, SLOTS) >= lower_bound_s(SPEC, SLOTS).bound_s


def test_ray_passes_upstream_results_into_placeholders(local_ray_2: None) -> None:
    run = execute_on_ray(ARITHMETIC, SLOTS, warm_up=False)

    assert run.results == {"add": 3, "mul": 30, "pair": (4, 2)}


def test_ray_refuses_a_cluster_of_another_size(local_ray_2: None) -> None:
    with pytest.raises(ValueError, match="the Ray cluster has 2 CPUs, not 3"):
        execute_on_ray(SPEC, 3)


def test_local_ray_refuses_to_start_a_second_ray(local_ray_2: None) -> None:
    with pytest.raises(RuntimeError, match="Ray is already initialised"), local_ray(SLOTS):
        pass  # pragma: no cover
    assert ray.is_initialized()


# -- plan (no engine) ------------------------------------------------------------------


def test_plan_orders_tasks_and_refuses_what_cannot_run() -> None:
    order = [task.id for task in plan(SPEC, SLOTS)]
    assert order.index("split_00000001") < order.index("align_00000003")
    assert order.index("merge_00000004") < order.index("report_00000006")

    with pytest.raises(ValueError, match="task 'align_00000002' needs 2 CPUs but only 1 slot"):
        plan(SPEC, 1)
    with pytest.raises(ValueError, match="slots must be a whole number >= 1"):
        plan(SPEC, 0)
    on_agent = WorkflowSpec(
        name="agents",
        tasks=(TaskSpec(id="t", agent="worker"),),
        agents=({"name": "worker", "agent_class": "agents.example:Worker"},),
    )
    with pytest.raises(ValueError, match="task 't' runs on agent 'worker'"):
        plan(on_agent, SLOTS)


# -- Dask ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    pytest.importorskip("distributed")
    from benchmarks.baselines.dask_tasks import local_dask

    with local_dask(SLOTS, processes=True) as client:
        yield client


def test_dask_runs_the_graph_in_dependency_order_within_the_slots(dask_client: object) -> None:
    from benchmarks.baselines.dask_tasks import execute_on_dask

    run = execute_on_dask(SPEC, SLOTS, client=dask_client)  # type: ignore[arg-type]

    _assert_good_run(run, "dask")


def test_dask_passes_upstream_results_into_placeholders(dask_client: object) -> None:
    from benchmarks.baselines.dask_tasks import execute_on_dask

    run = execute_on_dask(ARITHMETIC, SLOTS, client=dask_client)  # type: ignore[arg-type]

    assert run.results == {"add": 3, "mul": 30, "pair": (4, 2)}


def test_run_on_dask_starts_and_stops_its_own_cluster() -> None:
    pytest.importorskip("distributed")
    from benchmarks.baselines.dask_tasks import run_on_dask

    wall_s = run_on_dask(SPEC, SLOTS, processes=False)

    assert lower_bound_s(SPEC, SLOTS).bound_s <= wall_s < 10.0
