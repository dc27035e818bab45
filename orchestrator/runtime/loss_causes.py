"""Why an agent was lost, read from Ray's error: the `LossCause` that decides who pays.

Measured on Ray 2.60 (messages of `ActorDiedError`):

- a handler calling ``os._exit(3)``: "The actor is dead because its worker process has
  died. Worker exit type: SYSTEM_ERROR ..." -> ``died`` (blamed on what ran);
- ``ray.kill`` from another process: "The actor is dead because it was killed by
  `ray.kill`." -> ``killed`` (infrastructure: not the tasks' fault);
- an exception in the actor's ``__init__``: ``actor_init_failed`` -> ``failed_to_start``;
- its node gone, or preempted by the autoscaler -> ``node_lost``.
"""

from __future__ import annotations

from ray.exceptions import ActorDiedError, RayActorError

from orchestrator.core.events import LossCause

_KILLED_MARKERS = ("killed by `ray.kill`",)
_NODE_MARKERS = ("node has died", "its node", "node died", "raylet died")


def classify_loss(error: RayActorError) -> LossCause:
    """Return the loss cause that ``error`` (from a call to the agent) reveals."""
    if error.actor_init_failed:
        return "failed_to_start"
    if error.preempted:
        return "node_lost"
    if not isinstance(error, ActorDiedError):
        cause = cause_from_message(str(error))
        return cause if cause != "died" else "unreachable"
    return cause_from_message(str(error))


def cause_from_message(text: str) -> LossCause:
    """Return the cause of a death told only by Ray's message (e.g. from a failed ping)."""
    if any(marker in text for marker in _KILLED_MARKERS):
        return "killed"
    if any(marker in text.lower() for marker in _NODE_MARKERS):
        return "node_lost"
    if "creation task" in text:  # "The actor died because of an error raised in its creation task"
        return "failed_to_start"
    return "died"
