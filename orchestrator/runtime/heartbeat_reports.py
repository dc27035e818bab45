"""`HeartbeatReports`: what the heartbeat actor tells the supervisor (a mixin of it).

Health changes of agents (a lost one becomes an `AgentLost` with its cause) and the
progress handlers report with ``ctx.heartbeat``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from structlog.typing import FilteringBoundLogger

from orchestrator.core.events import AgentLost, AttemptProgress, AttemptsProgressed, Event
from orchestrator.core.heartbeat import AgentHealth
from orchestrator.runtime.bus.lifecycle import LifecyclePublisher
from orchestrator.runtime.loss_causes import cause_from_message

_LOSS_CAUSES: dict[AgentHealth, Literal["died", "hung", "failed_to_start"]] = {
    AgentHealth.DEAD: "died",
    AgentHealth.HUNG: "hung",
    AgentHealth.FAILED_TO_START: "failed_to_start",
}


class HeartbeatReports:
    """The heartbeat-facing calls of the supervisor (its ``_log`` and ``_handle``)."""

    _log: FilteringBoundLogger
    _handle: Callable[[Event], None]
    _events: LifecyclePublisher

    async def report_agent_health(self, agent_id: str, health: str, detail: str) -> None:
        """Receive a health change from the heartbeat actor.

        A lost agent's cause is logged once, when the scheduler stops it (`StopAgent`);
        here only at debug level (its calls may already have reported it).
        """
        state = AgentHealth(health)
        self._events.heartbeat(agent_id, health, detail)
        log = self._log.bind(agent_id=agent_id, health=health)
        if not state.needs_replacement:
            (log.warning if state is AgentHealth.SLOW else log.debug)("agent.health", detail=detail)
            return
        log.debug("agent.health", detail=detail)
        dead = state is AgentHealth.DEAD
        cause = cause_from_message(detail) if dead else _LOSS_CAUSES[state]
        self._handle(AgentLost(agent_id=agent_id, cause=cause, reason=detail))

    async def report_progress(self, progress: list[AttemptProgress]) -> None:
        """Receive handlers' progress reports (``ctx.heartbeat``) from the heartbeat actor."""
        self._handle(AttemptsProgressed(progress=tuple(progress)))
