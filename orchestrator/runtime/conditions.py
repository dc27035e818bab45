"""Conditional tasks on the agent: a task's ``run_if`` predicate on its upstream results.

The predicate runs where the upstream results already are: the agent host fetched them
to run the task, so judging them there costs no transfer, and the supervisor, which only
holds references, never pulls a large result to decide. A false answer becomes a
``skipped`` outcome (the core skips the task and its dependents follow their trigger
rules); a predicate that raises, or answers something other than a bool, fails the
attempt without retry: the same inputs would give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.agent import NonRetryableError
from orchestrator.core.events import AttemptOutcome
from orchestrator.import_paths import import_object
from orchestrator.runtime.wire import failed

#: The error type a skipped outcome carries (shown as the task's error type).
CONDITION_NOT_MET = "ConditionNotMet"


class ConditionError(NonRetryableError):
    """A ``run_if`` predicate could not be imported, raised, or did not answer a bool."""


def judge(
    attempt_id: int,
    predicate: Callable[[Mapping[str, Any]], Any] | str,
    inputs: Mapping[str, Any],
    now_s: float,
) -> AttemptOutcome | None:
    """Evaluate ``predicate(inputs)``; return the outcome when the task must not run.

    Args:
        attempt_id: The attempt the predicate decides.
        predicate: The callable, or its import path.
        inputs: The upstream results by task id.
        now_s: The wall-clock time, for the outcome.

    Returns:
        None when the predicate answered True (the task runs); a skipped outcome when it
        answered False; a non-retryable failure when it could not answer.
    """
    name = predicate if isinstance(predicate, str) else getattr(predicate, "__qualname__", "?")
    try:
        function = import_object(predicate) if isinstance(predicate, str) else predicate
        if not callable(function):
            raise ConditionError(f"run_if {predicate!r} is not callable")
        answer = function(dict(inputs))
        if not isinstance(answer, bool):
            raise ConditionError(f"run_if {name} returned {type(answer).__name__}, expected a bool")
    except ConditionError as exc:
        return failed(attempt_id, now_s, now_s, exc, retryable=False)
    except Exception as exc:
        error = ConditionError(f"run_if {name} raised {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return failed(attempt_id, now_s, now_s, error, retryable=False)
    if answer:
        return None
    return AttemptOutcome(
        attempt_id,
        False,
        now_s,
        now_s,
        error_type=CONDITION_NOT_MET,
        error_message=f"run_if {name} answered False",
        retryable=False,
        skipped=True,
    )
