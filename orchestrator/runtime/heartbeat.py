"""`HeartbeatService`: the actor that pings agents and reports changes in their health.

The decisions (slow, hung, dead, failed to start) are made by the pure
`HeartbeatMonitor`; this shell sends pings, listens for pongs and Ray's errors, and tells
the supervisor about every change.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from ray.exceptions import ActorUnavailableError, RayActorError

from orchestrator.core.heartbeat import AgentHealth, HealthChange, HeartbeatMonitor
from orchestrator.settings import HeartbeatSettings, LoggingSettings
from orchestrator.telemetry.logging import configure_logging


class HeartbeatService:
    """Pings every registered agent every ``interval_s``; see the module docstring."""

    def __init__(
        self,
        supervisor: Any,
        settings: HeartbeatSettings,
        logging_settings: LoggingSettings,
    ) -> None:
        configure_logging(logging_settings)
        self._log = structlog.get_logger("orchestrator.heartbeat")
        self._supervisor = supervisor
        self._settings = settings
        self._monitor = HeartbeatMonitor(
            slow_after_s=settings.slow_after_s,
            hung_after_s=settings.hung_after_s,
            start_timeout_s=settings.start_timeout_s,
        )
        self._agents: dict[str, Any] = {}
        self._loop_task: asyncio.Task[None] | None = None

    async def register(self, agent_id: str, agent: Any) -> None:
        """Start watching an agent (its handle comes wrapped in a list to stay a handle)."""
        self._agents[agent_id] = agent[0] if isinstance(agent, list) else agent
        self._monitor.register(agent_id, time.time())
        self._ensure_loop()

    async def unregister(self, agent_id: str) -> None:
        """Stop watching an agent that was stopped on purpose."""
        self._agents.pop(agent_id, None)
        self._monitor.unregister(agent_id)

    async def health(self) -> dict[str, AgentHealth]:
        """Return the current health of every watched agent."""
        return {agent_id: self._monitor.health(agent_id) for agent_id in self._monitor.agents()}

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def resync(self) -> int:
        """Watch every agent the supervisor has (after a restart of this actor); return how many."""
        agents: dict[str, list[Any]] = await self._supervisor.agents_to_watch.remote()
        now = time.time()
        for agent_id, handle in agents.items():
            if agent_id not in self._agents:
                self._agents[agent_id] = handle[0]
                self._monitor.register(agent_id, now)
        if agents:
            self._ensure_loop()
        return len(agents)

    async def _run(self) -> None:
        while True:
            now = time.time()
            for agent_id in self._monitor.due_for_ping(now):
                agent = self._agents.get(agent_id)
                if agent is None:
                    continue
                self._monitor.ping_sent(agent_id, now)
                asyncio.get_running_loop().create_task(self._ping(agent_id, agent))
            for change in self._monitor.check(time.time()):
                self._report(change)
            await asyncio.sleep(self._settings.interval_s)

    async def _ping(self, agent_id: str, agent: Any) -> None:
        try:
            pulse = await agent.ping.remote()
        except ActorUnavailableError as exc:
            # Transient (Ray says so): ping again; the silence keeps counting meanwhile.
            self._log.debug("heartbeat.ping_unanswered", agent_id=agent_id, error=repr(exc))
            self._monitor.ping_unanswered(agent_id)
            return
        except RayActorError as exc:
            change = self._monitor.died(agent_id, f"{type(exc).__name__}: {exc}"[:500])
        except Exception as exc:
            # The agent answered, but its reply could not be read (e.g. deserialised): it is
            # alive and responsive, which is all a heartbeat asks.
            self._log.warning("heartbeat.ping_error", agent_id=agent_id, error=repr(exc))
            change = self._monitor.pong(agent_id, time.time())
        else:
            change = self._monitor.pong(agent_id, time.time())
            progress = getattr(pulse, "progress", ())
            if progress:  # handlers' heartbeats, forwarded in one call per ping
                self._supervisor.report_progress.remote(list(progress))
        if change is not None:
            self._report(change)

    def _report(self, change: HealthChange) -> None:
        level = "warning" if change.current is not AgentHealth.HEALTHY else "debug"
        getattr(self._log, level)(
            "agent.health",
            agent_id=change.agent_id,
            previous=change.previous.value,
            current=change.current.value,
            detail=change.detail,
        )
        self._supervisor.report_agent_health.remote(
            change.agent_id, change.current.value, change.detail
        )
        if change.current.needs_replacement:
            self._agents.pop(change.agent_id, None)
