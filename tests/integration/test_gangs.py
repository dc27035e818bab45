"""Multi-core function tasks on a real local Ray: ganged on 1-CPU agents, no agent churn.

One Ray of 4 CPUs for the module, and an orchestrator whose plain functions default to
1 CPU, so that 2-core tasks are ganged on two agents of the 1-CPU function pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from orchestrator.core.config import SchedulerConfig
from orchestrator.core.resources import ResourceSpec
from tests.integration import workloads
from tests.integration.conftest import fast_settings

pytestmark = pytest.mark.integration

BASE = "functions[cpu=1,gpu=0,mem=0]"
TWO = "functions[cpu=2,gpu=0,mem=0]"
CPUS = 4


@pytest.fixture(scope="module")
def orchestrator() -> Iterator[Orchestrator]:
    settings = fast_settings()
    scheduler = SchedulerConfig(
        idle_agent_timeout_s=30.0, default_function_resources=ResourceSpec(num_cpus=1)
    )
    with Orchestrator(settings=settings.model_copy(update={"scheduler": scheduler})) as orch:
        yield orch


def test_a_dag_mixing_1_and_2_core_functions_starts_no_agent_beyond_the_first(
    orchestrator: Orchestrator, tmp_path: Path
) -> None:
    # Given rounds alternating 1-core and 2-core sleeping tasks, each round after the
    # previous one, that fill the 4 CPUs each time
    ledger = str(tmp_path / "ledger.jsonl")
    wf = Workflow("mixed-cores")
    cores: dict[str, int] = {}
    previous: list[str] = []
    for round_index in range(6):
        width = 2 if round_index % 2 else 1
        names = [f"r{round_index}-{index}" for index in range(CPUS // width)]
        for name in names:
            cores[name] = width
            wf.task(
                name,
                workloads.ledgered_sleep,
                args=(ledger, name, 0.3),
                depends_on=previous,
                resources={"num_cpus": width},
            )
        previous = names

    # When it runs
    run = orchestrator.submit(wf)
    status = run.wait(timeout_s=120)

    # Then everything succeeded, the 2-core tasks on the 1-CPU pool's agents
    assert status.state is WorkflowState.SUCCEEDED
    assert status.count(TaskState.SUCCEEDED) == len(cores)
    pools = orchestrator.statistics().pools
    assert pools[TWO].gang_host == BASE
    assert pools[TWO].agents_started == 0
    agents = {info.task_id: info.agent_id for info in run.tasks()}
    assert all(agent is not None and agent.startswith(BASE) for agent in agents.values())
    # And no agent was started beyond the first four (no stop-and-start to change shape)
    assert pools[BASE].agents_started == CPUS
    assert sum(pool.agents_started for pool in pools.values()) == CPUS
    # And the cores of the tasks running at once never exceeded the 4 CPUs
    events = sorted(
        (entry["time_s"], 0 if entry["event"] == "finish" else 1, entry["task"])
        for entry in workloads.read_ledger(ledger)
    )
    in_use = peak = 0
    for _, starts, task in events:
        in_use += cores[task] if starts else -cores[task]
        peak = max(peak, in_use)
    assert peak <= CPUS
    assert peak == CPUS  # the test is not vacuous: the CPUs were full at times
