"""The fault-handling fields of `Workflow.task`: accepted, packed, and refused when wrong."""

from __future__ import annotations

import pytest

from orchestrator import Workflow, WorkflowRejectedError
from orchestrator.core.packed import PackedWorkflow, TaskExtras


def _undo(result: object) -> None:
    return None


def test_fault_fields_reach_the_packed_rows() -> None:
    wf = Workflow("w", retry_budget=5)
    wf.task(
        "t",
        "pkg.mod:work",
        heartbeat_timeout_s=3.0,
        schedule_to_close_s=60.0,
        compensate=_undo,
        retry={"jitter": "full", "non_retryable": ["KeyError"]},
    )
    wf.task("plain", "pkg.mod:work")
    packed = PackedWorkflow.pack(wf.to_spec("w-1"))
    first, plain = packed.rows
    assert first.extras == TaskExtras(3.0, 60.0, _undo)
    assert plain.extras is None  # most rows carry nothing extra
    assert (first.retry.jitter, first.retry.non_retryable) == ("full", ("KeyError",))
    assert packed.retry_budget == 5


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"heartbeat_timeout_s": 0}, "heartbeat_timeout_s"),
        ({"schedule_to_close_s": -1.0}, "schedule_to_close_s"),
        ({"compensate": 42}, "compensate"),
        ({"retry": {"jitter": "sometimes"}}, "jitter"),
    ],
)
def test_bad_fault_fields_are_refused_naming_the_field(
    fields: dict[str, object], named: str
) -> None:
    wf = Workflow("w")
    with pytest.raises(WorkflowRejectedError) as exc:
        wf.task("t", "pkg.mod:work", **fields)  # type: ignore[arg-type]
    assert named in str(exc.value)
    assert len(wf) == 0  # nothing kept


def test_a_negative_retry_budget_is_refused() -> None:
    wf = Workflow("w", retry_budget=-1)
    wf.task("t", "pkg.mod:work")
    with pytest.raises(WorkflowRejectedError, match="retry_budget"):
        wf.to_spec()
