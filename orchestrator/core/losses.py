"""Who pays when an agent is lost: the charge rules, and short words for what happened.

An agent may be lost for many reasons (see `LossCause`). The attempts it held are then
re-run, and whether that costs a task anything depends on whose fault the loss was:

- ``running``: the agent's own crash or hang (``died``, ``hung``) is blamed on what it
  ran. When that was provably one attempt alone, that attempt is charged as a failure
  (``AgentDied``, ``AgentHung``), against ``max_attempts``. When it held several, nobody
  can tell which one did it: all are re-queued free, as suspects that run alone from then
  on (Dask's "suspicious" tasks), so the next death is attributed.
- ``loss``: the infrastructure's fault (``killed``, ``node_lost``, ``failed_to_start``,
  ``unreachable``) counts against each task's ``max_agent_losses``.
- ``none``: a stop the scheduler makes itself (another task's timeout, a cancelled task
  that overran) costs the tasks nothing.
"""

from __future__ import annotations

from typing import Literal

from orchestrator.core.events import LossCause

#: Who pays for the attempts of a lost agent (see the module docstring).
Charge = Literal["running", "loss", "none"]

_CHARGE_BY_CAUSE: dict[LossCause, Charge] = {
    "died": "running",
    "hung": "running",
    "killed": "loss",
    "node_lost": "loss",
    "failed_to_start": "loss",
    "unreachable": "loss",
}
_CAUSE_WORDS = {
    "died": "died",
    "hung": "hung",
    "killed": "was killed",
    "node_lost": "lost its node",
    "failed_to_start": "failed to start",
    "unreachable": "became unreachable",
    "stopped": "was stopped",
}
#: Longest gist of a loss reason kept in a task's message.
GIST_CHARS = 200


def charge_for(cause: LossCause) -> Charge:
    """Return who pays for the attempts of an agent lost for ``cause``."""
    return _CHARGE_BY_CAUSE[cause]


def blamed_error_type(cause: str) -> str:
    """Return the error type charged to an attempt that took its agent down."""
    return "AgentHung" if cause == "hung" else "AgentDied"


def what_happened(agent_id: str, cause: str) -> str:
    """Return a few words such as ``agent cpu#3 lost its node``."""
    return f"agent {agent_id} {_CAUSE_WORDS.get(cause, cause)}"


def gist(reason: str, limit: int = GIST_CHARS) -> str:
    """Return the telling part of a long loss reason, shortened to ``limit`` characters.

    That is its last line: Ray puts the cause last (the exception of a failed
    ``__init__``, "killed by `ray.kill`", a worker's exit detail).
    """
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else "no reason given"
    return text if len(text) <= limit else text[: limit - 1] + "…"
