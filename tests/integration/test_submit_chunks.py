"""A large workflow is sent in chunks the supervisor assembles; a bad chunk leaves nothing.

`orchestrator.api.SUBMIT_CHUNK_TASKS` is lowered to 10 here, so workflows of a few dozen
tasks take the chunked path that a 100,000-task one takes by default.
"""

from __future__ import annotations

import threading

import pytest
import ray

import orchestrator.api
from orchestrator import Orchestrator, Workflow, WorkflowRejectedError, WorkflowState
from orchestrator.core.packed import PackedWorkflow, row_chunks
from tests.integration import workloads

pytestmark = pytest.mark.integration

CHUNK = 10


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orchestrator.api, "SUBMIT_CHUNK_TASKS", CHUNK)


def _chain(name: str, num_tasks: int) -> Workflow:
    """``num_tasks`` tasks, each adding 1 to the one before (the last one's result = count)."""
    workflow = Workflow(name)
    previous = workflow.task("t0", workloads.add, args=(0, 1))
    for index in range(1, num_tasks):
        previous = workflow.task(f"t{index}", workloads.add, args=(previous.output, 1))
    return workflow


def _known(orch: Orchestrator) -> set[str]:
    return {status.workflow_id for status in orch.workflows()}


def _staged(orch: Orchestrator) -> int:
    return orch.client.process_stats()["staged_submissions"]


def test_a_workflow_sent_in_chunks_runs_whole(orchestrator: Orchestrator) -> None:
    run = orchestrator.submit(_chain("chunked", 35), workflow_id="chunked-1")
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    results = run.results()
    assert len(results) == 35 and results["t34"] == 35


def test_a_task_ray_cannot_send_mid_stream_fails_the_submit_and_leaves_nothing(
    orchestrator: Orchestrator,
) -> None:
    workflow = _chain("unsendable", 35)
    workflow.task("bad", workloads.add, args=(threading.Lock(), 1))  # in the 4th chunk
    known = _known(orchestrator)
    with pytest.raises(Exception, match="lock"):
        orchestrator.submit(workflow, workflow_id="unsendable-1")
    assert _known(orchestrator) == known
    assert _staged(orchestrator) == 0  # the driver aborted what it had sent
    with pytest.raises(KeyError):
        orchestrator.attach("unsendable-1")
    # The id is free: the fixed workflow goes through.
    fixed = orchestrator.submit(_chain("unsendable", 35), workflow_id="unsendable-1")
    assert fixed.wait(timeout_s=120).state is WorkflowState.SUCCEEDED


def test_a_task_the_supervisor_refuses_rejects_the_whole_chunked_workflow(
    orchestrator: Orchestrator,
) -> None:
    workflow = _chain("refused", 35)
    workflow.task("gpu", workloads.add, args=(1, 2), resources={"num_cpus": 0.5, "num_gpus": 64})
    known = _known(orchestrator)
    with pytest.raises(WorkflowRejectedError, match=r"'gpu'.*needs 64 GPU"):
        orchestrator.submit(workflow, workflow_id="refused-1")
    assert _known(orchestrator) == known
    assert _staged(orchestrator) == 0


def test_a_bad_chunk_is_refused_clearly_and_drops_the_staged_submission(
    orchestrator: Orchestrator,
) -> None:
    spec = _chain("bad-chunk", 25).to_spec("bad-chunk-1")
    chunks = list(row_chunks(spec, CHUNK))
    handle, me = orchestrator.supervisor, orchestrator.client.principal
    token = ray.get(handle.submit_begin.remote(PackedWorkflow.header(spec), me))
    assert ray.get(handle.submit_rows.remote(token, 0, chunks[0], me)) == CHUNK
    with pytest.raises(ray.exceptions.RayTaskError, match="chunk 2 arrived where chunk 1"):
        ray.get(handle.submit_rows.remote(token, 2, chunks[2], me))
    assert _staged(orchestrator) == 0
    with pytest.raises(ray.exceptions.RayTaskError, match="no chunked submission"):
        ray.get(handle.submit_end.remote(token, me))
    with pytest.raises(KeyError):
        orchestrator.attach("bad-chunk-1")


def test_an_aborted_chunked_submission_is_forgotten(orchestrator: Orchestrator) -> None:
    spec = _chain("aborted", 15).to_spec("aborted-1")
    handle, me = orchestrator.supervisor, orchestrator.client.principal
    token = ray.get(handle.submit_begin.remote(PackedWorkflow.header(spec), me))
    ray.get(handle.submit_rows.remote(token, 0, next(row_chunks(spec, CHUNK)), me))
    assert _staged(orchestrator) == 1
    assert ray.get(handle.submit_abort.remote(token, me)) is True
    assert _staged(orchestrator) == 0
    assert ray.get(handle.submit_abort.remote(token, me)) is False
    with pytest.raises(KeyError):
        orchestrator.attach("aborted-1")


def test_rows_in_the_object_store_are_fetched_and_a_chunk_that_cannot_be_is_refused(
    orchestrator: Orchestrator,
) -> None:
    from orchestrator.runtime.submit_streams import StoredRows

    spec = _chain("stored", 25).to_spec("stored-1")
    chunks = list(row_chunks(spec, CHUNK))
    handle, me = orchestrator.supervisor, orchestrator.client.principal
    token = ray.get(handle.submit_begin.remote(PackedWorkflow.header(spec), me))
    stored = StoredRows(ray.put(chunks[0]))
    assert ray.get(handle.submit_rows.remote(token, 0, stored, me)) == CHUNK
    # A chunk whose rows cannot be loaded drops the staged submission, with the reason
    broken = StoredRows(ray.put(workloads.LoadsBadly()))
    with pytest.raises(ray.exceptions.RayTaskError, match=r"chunk 1 .*could not be fetched"):
        ray.get(handle.submit_rows.remote(token, 1, broken, me))
    assert _staged(orchestrator) == 0
    # And stored rows that are not rows are refused as a bad chunk
    token = ray.get(handle.submit_begin.remote(PackedWorkflow.header(spec), me))
    with pytest.raises(ray.exceptions.RayTaskError, match="chunk 0 is a list"):
        ray.get(handle.submit_rows.remote(token, 0, StoredRows(ray.put(list(chunks[0]))), me))
    assert _staged(orchestrator) == 0
    with pytest.raises(KeyError):
        orchestrator.attach("stored-1")
