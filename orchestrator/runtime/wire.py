"""The wire format between the supervisor and an agent host: what one batch call carries.

The supervisor sends an `AttemptPayload` per attempt; the agent host answers with an
`AttemptOutcome` (the core's own named tuple, so nothing is converted on arrival) per
attempt, then each result as a separate object. Named tuples rather than models: one is
made and pickled per attempt, on the hot path.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from typing import Any, NamedTuple

from orchestrator.core.commands import AttemptOrder
from orchestrator.core.events import AttemptOutcome

#: Longest error text kept when a whole call fails (its outcomes share the text).
MAX_CALL_ERROR_CHARS = 2000


class AttemptPayload(NamedTuple):
    """One attempt as sent to an agent host (an `AttemptOrder` without its priority).

    Attributes:
        attempt_id: Echoed in the outcome.
        workflow_id: The task's workflow.
        task_id: The task.
        attempt: 1 for the first attempt, 2 for the next...
        function: For function tasks, the callable or its import path; None for agents.
        args: Positional arguments, with `OutputOf` placeholders.
        kwargs: Keyword arguments, with `OutputOf` placeholders.
        input_ids: Ids of the tasks whose results this attempt receives.
        input_slots: For each of ``input_ids``, the index of its ref in the call's refs
            (a ref shared by several attempts of the batch is sent once).
        last_heartbeat: What an earlier attempt of the task last reported as progress.
        watch_progress: Whether to mark the handler's start as progress (the task has a
            heartbeat timeout).
        trace_parent: (trace id, span id) of the attempt's span, under which the
            handler's own spans nest; None when tracing is off.
        run_if: The task's predicate on its upstream results, or None.
    """

    attempt_id: int
    workflow_id: str
    task_id: str
    attempt: int
    function: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    input_ids: tuple[str, ...]
    input_slots: tuple[int, ...]
    last_heartbeat: Any = None
    watch_progress: bool = False
    trace_parent: tuple[int, int] | None = None
    run_if: Any = None


def payload_of(
    order: AttemptOrder,
    input_slots: tuple[int, ...],
    trace_parent: tuple[int, int] | None = None,
) -> AttemptPayload:
    """Return the payload of ``order`` whose inputs sit at ``input_slots`` of the call."""
    return AttemptPayload(
        order.attempt_id,
        order.workflow_id,
        order.task_id,
        order.attempt,
        order.function,
        order.args,
        order.kwargs,
        order.inputs,
        input_slots,
        order.last_heartbeat,
        order.heartbeat_timeout_s is not None,
        trace_parent,
        order.run_if,
    )


def succeeded(attempt_id: int, started_s: float, finished_s: float) -> AttemptOutcome:
    """Return the outcome of an attempt whose task returned normally."""
    return AttemptOutcome(attempt_id, True, started_s, finished_s)


def failed(
    attempt_id: int,
    started_s: float,
    finished_s: float,
    exc: BaseException,
    *,
    retryable: bool,
) -> AttemptOutcome:
    """Return the outcome of an attempt whose task raised ``exc`` (with its traceback)."""
    return AttemptOutcome(
        attempt_id,
        False,
        started_s,
        finished_s,
        error_type=type(exc).__name__,
        error_message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        retryable=retryable,
        error_lineage=error_lineage(type(exc)),
    )


def error_lineage(error_class: type[BaseException]) -> tuple[str, ...]:
    """Return ``module.Class`` of ``error_class`` and of its bases, most derived first."""
    return tuple(
        f"{cls.__module__}.{cls.__qualname__}" for cls in error_class.__mro__ if cls is not object
    )


def inputs_lost(
    attempt_id: int, lost: tuple[str, ...], now_s: float, detail: str
) -> AttemptOutcome:
    """Return the outcome of an attempt that did not run: the results of ``lost`` are gone."""
    names = ", ".join(repr(name) for name in lost)
    return AttemptOutcome(
        attempt_id,
        False,
        now_s,
        now_s,
        error_type="InputLost",
        error_message=f"the result of {names} could not be fetched ({detail})",
        lost_inputs=lost,
    )


def call_failed(
    orders: Iterable[AttemptOrder], exc: BaseException, now_s: float
) -> tuple[AttemptOutcome, ...]:
    """Return the outcomes of a call that failed as a whole (e.g. arguments not picklable).

    Not retryable: the same call would fail the same way.
    """
    text = f"{type(exc).__name__}: {exc}"[:MAX_CALL_ERROR_CHARS]
    return tuple(
        AttemptOutcome(
            order.attempt_id,
            False,
            now_s,
            now_s,
            error_type=type(exc).__name__,
            error_message=text,
            traceback=None,
            retryable=False,
        )
        for order in orders
    )
