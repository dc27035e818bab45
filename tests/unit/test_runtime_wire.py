"""The agent<->supervisor wire format: payloads from orders, outcomes from exceptions."""

from __future__ import annotations

import pickle

from orchestrator.core.commands import AttemptOrder
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.specs import Priority
from orchestrator.runtime.wire import (
    MAX_CALL_ERROR_CHARS,
    AttemptPayload,
    call_failed,
    failed,
    payload_of,
    succeeded,
)


def _order(attempt_id: int) -> AttemptOrder:
    return AttemptOrder(
        attempt_id, "wf", f"t{attempt_id}", 1, "m:f", (1,), {"k": 2}, ("up",), Priority.HIGH
    )


def test_payload_carries_the_order_without_its_priority_and_with_input_slots() -> None:
    payload = payload_of(_order(7), (3,))
    assert payload == AttemptPayload(7, "wf", "t7", 1, "m:f", (1,), {"k": 2}, ("up",), (3,))
    assert pickle.loads(pickle.dumps(payload)) == payload


def test_outcomes_say_how_each_attempt_ended() -> None:
    assert succeeded(1, 10.0, 11.0) == AttemptOutcome(1, True, 10.0, 11.0)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        outcome = failed(2, 10.0, 12.0, exc, retryable=True)
    assert (outcome.ok, outcome.error_type, outcome.error_message, outcome.retryable) == (
        False,
        "ValueError",
        "boom",
        True,
    )
    assert "ValueError: boom" in (outcome.traceback or "")


def test_a_failed_call_fails_each_of_its_attempts_without_retry() -> None:
    outcomes = call_failed([_order(1), _order(2)], TypeError("x" * 5000), now_s=5.0)
    assert [o.attempt_id for o in outcomes] == [1, 2]
    first = outcomes[0]
    assert (first.ok, first.started_s, first.error_type, first.retryable) == (
        False,
        5.0,
        "TypeError",
        False,
    )
    assert first.error_message is not None
    assert first.error_message.startswith("TypeError: xxx")
    assert len(first.error_message) == MAX_CALL_ERROR_CHARS


class _RefusedError(ValueError):
    pass


def test_failures_carry_the_lineage_of_their_exception_class() -> None:
    from orchestrator.runtime.wire import error_lineage, failed

    outcome = failed(1, 0.0, 1.0, _RefusedError("no"), retryable=True)
    assert outcome.error_lineage == error_lineage(_RefusedError)
    assert outcome.error_lineage == (
        f"{__name__}._RefusedError",
        "builtins.ValueError",
        "builtins.Exception",
        "builtins.BaseException",
    )


def test_an_attempt_whose_inputs_are_lost_names_them() -> None:
    from orchestrator.runtime.wire import inputs_lost

    outcome = inputs_lost(7, ("a", "b"), 5.0, "OwnerDiedError: gone")
    assert (outcome.ok, outcome.error_type, outcome.lost_inputs) == (False, "InputLost", ("a", "b"))
    assert "'a', 'b'" in (outcome.error_message or "") and "OwnerDiedError" in (
        outcome.error_message or ""
    )
