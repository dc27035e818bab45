"""The driver API: attach, one error path for every call, and the two waiting intervals."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import ray

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from orchestrator.api import WorkflowRun
from orchestrator.core.status import WorkflowStatus
from orchestrator.runtime.client import SupervisorClient, SupervisorUnavailableError
from tests.integration import workloads

pytestmark = pytest.mark.integration


def _two_step() -> Workflow:
    wf = Workflow("attach-me")
    first = wf.task("first", workloads.add, args=(1, 2))
    wf.task("second", workloads.add, args=(first.output, 10))
    return wf


def test_attach_gives_another_driver_the_run_of_a_submitted_workflow(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow submitted by this driver
    run = orchestrator.submit(_two_step())
    # When another Orchestrator in the same namespace (another driver) attaches to it
    other = Orchestrator(settings=orchestrator.settings)
    attached = other.attach(run.id)
    # Then it follows the same run: same id, its end, its results
    # (`other` is not shut down: it joined this module's supervisor, and shutdown would
    # stop that supervisor; see Orchestrator.shutdown.)
    assert attached.id == run.id
    assert attached.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    assert attached.result("second") == 13
    assert {info.task_id for info in attached.tasks()} == {"first", "second"}
    assert orchestrator.attach(run.id).status().count(TaskState.SUCCEEDED) == 2


def test_attach_to_an_unknown_workflow_raises_key_error(orchestrator: Orchestrator) -> None:
    with pytest.raises(KeyError, match="no-such-workflow"):
        orchestrator.attach("no-such-workflow")


_RUN_CALLS: dict[str, Callable[[WorkflowRun], Any]] = {
    "status": lambda run: run.status(),
    "wait": lambda run: run.wait(timeout_s=0.1),
    "tasks": lambda run: run.tasks(),
    "task": lambda run: run.task("t"),
    "result": lambda run: run.result("t"),
    "results": lambda run: run.results(),
    "summary": lambda run: run.summary(),
    "cancel": lambda run: run.cancel(),
    "release": lambda run: run.release(),
}


@pytest.mark.parametrize("call", list(_RUN_CALLS))
def test_an_unknown_workflow_raises_key_error_from_every_call(
    orchestrator: Orchestrator, call: str
) -> None:
    run = WorkflowRun(orchestrator.client, "no-such-workflow")
    with pytest.raises(KeyError):
        _RUN_CALLS[call](run)


def _wait_until_dead(actor: Any, timeout_s: float = 30.0) -> None:
    """`ray.kill` returns before the actor is gone: wait until a call to it fails."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=5)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError(f"the actor still answers {timeout_s} s after ray.kill")


def test_a_dead_supervisor_raises_one_clear_error_from_every_call(
    orchestrator: Orchestrator,
) -> None:
    # Given a second supervisor (a name of its own, on this module's Ray), then killed
    ray_settings = orchestrator.settings.ray.model_copy(update={"supervisor_name": "doomed"})
    doomed = Orchestrator(settings=orchestrator.settings.model_copy(update={"ray": ray_settings}))
    assert doomed.workflows() == []
    ray.kill(doomed.supervisor, no_restart=True)
    _wait_until_dead(doomed.supervisor)
    run = WorkflowRun(doomed.client, "any")

    # When anything asks it something, Then each call raises SupervisorUnavailableError
    calls: list[Callable[[], Any]] = [
        doomed.statistics,
        doomed.workflows,
        lambda: doomed.attach("any"),
        lambda: doomed.submit(_two_step()),
        *(lambda call=call: call(run) for call in _RUN_CALLS.values()),
    ]
    for call in calls:
        with pytest.raises(SupervisorUnavailableError, match="supervisor is unavailable"):
            call()
    # Shutting down says so too, and still forgets the supervisor
    with pytest.raises(SupervisorUnavailableError):
        doomed.shutdown()
    doomed.shutdown()


class _ScriptedClient:
    """Stands for a `SupervisorClient`: a workflow that ends at the third wait."""

    def __init__(self) -> None:
        self.waits: list[float | None] = []

    def _status(self, state: WorkflowState) -> WorkflowStatus:
        return WorkflowStatus(
            workflow_id="wf", name="wf", state=state, total=1, counts={}, submitted_s=0.0
        )

    def status(self, workflow_id: str) -> WorkflowStatus:
        return self._status(WorkflowState.RUNNING)

    def wait(self, workflow_id: str, timeout_s: float | None) -> WorkflowStatus:
        self.waits.append(timeout_s)
        done = len(self.waits) >= 3
        return self._status(WorkflowState.SUCCEEDED if done else WorkflowState.RUNNING)


def test_a_plain_wait_waits_in_chunks_of_wait_chunk_s() -> None:
    client = _ScriptedClient()
    run = WorkflowRun(cast(SupervisorClient, client), "wf")
    assert run.wait(wait_chunk_s=7.0, refresh_s=0.01).state is WorkflowState.SUCCEEDED
    assert client.waits == [7.0, 7.0, 7.0]


def test_a_wait_with_progress_waits_at_most_refresh_s_between_redraws() -> None:
    client = _ScriptedClient()
    run = WorkflowRun(cast(SupervisorClient, client), "wf")
    assert run.wait(progress=True, refresh_s=0.25, wait_chunk_s=7.0).state is (
        WorkflowState.SUCCEEDED
    )
    # Each redraw follows a wait of at most refresh_s (this client answers at once, so
    # the later waits are what is left of it), never of wait_chunk_s
    assert len(client.waits) == 3
    assert 0.2 < (client.waits[0] or 0.0) <= 0.25
    assert all(0.0 <= (wait or 0.0) <= 0.25 for wait in client.waits)


def test_results_fetches_every_success_at_once_and_only_successes(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow where one task fails for good and its dependent is skipped
    wf = Workflow("bulk-results")
    values = [wf.task(f"v{i}", workloads.add, args=(i, i)) for i in range(200)]
    broken = wf.task("broken", workloads.fail_permanently, args=("no",))
    wf.task("after", workloads.add, args=(broken.output, 1))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.FAILED
    # When every result is asked for
    results = run.results()
    # Then each success is there with its value, and nothing else
    assert results == {handle.id: 2 * i for i, handle in enumerate(values)}
    # And an unknown workflow says so
    with pytest.raises(KeyError):
        orchestrator.attach("no-such-workflow").results()
