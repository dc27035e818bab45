"""`classify_loss` on the messages Ray 2.60 really gives (captured on this machine)."""

from __future__ import annotations

import pytest
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

from orchestrator.runtime.loss_causes import cause_from_message, classify_loss

pytestmark = pytest.mark.integration

_HEAD = (
    "The actor died unexpectedly before finishing this task.\n\tclass_name: A\n"
    "\tactor_id: 71409be89498cb6ed646456201000000\n\tpid: 1048\n\tip: 192.0.2.2\n"
)
_EXITED = (
    _HEAD + "The actor is dead because its worker process has died. Worker exit type: "
    "SYSTEM_ERROR Worker exit detail: Worker unexpectedly exits with a connection error code 2."
)
_KILLED = _HEAD + "The actor is dead because it was killed by `ray.kill`."


def _died(message: str, *, init_failed: bool = False, preempted: bool = False) -> RayActorError:
    error = ActorDiedError()
    error.error_msg = message
    error._actor_init_failed = init_failed
    error._preempted = preempted
    return error


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (_died(_EXITED), "died"),
        (_died(_KILLED), "killed"),
        (
            _died(
                "The actor died because of an error raised in its creation task", init_failed=True
            ),
            "failed_to_start",
        ),
        (_died(_HEAD + "The actor died because its node has died.", preempted=False), "node_lost"),
        (_died(_EXITED, preempted=True), "node_lost"),
        (ActorUnavailableError("unavailable", b"\x00" * 16), "unreachable"),
        (RayActorError(), "unreachable"),
    ],
)
def test_each_message_gives_its_cause(error: RayActorError, cause: str) -> None:
    assert classify_loss(error) == cause


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        (_EXITED, "died"),
        (_KILLED, "killed"),
        (_HEAD + "The actor died because its node has died.", "node_lost"),
        ("The actor died because of an error raised in its creation task, boom", "failed_to_start"),
    ],
)
def test_a_message_alone_gives_its_cause(message: str, cause: str) -> None:
    # What the heartbeat reports: only the text of the error its ping got
    assert cause_from_message(message) == cause
