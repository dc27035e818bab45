"""`AgentRegistry`: a supervisor's live agent actors and the heartbeat actor that watches them.

It starts agents as the scheduler asks (`StartAgent`), stops them (`StopAgent`, logging a
lost agent's cause once), tells the heartbeat actor which agents to watch, and ends them
all at shutdown. The heartbeat actor is started once, by the supervisor's loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray
from structlog.typing import FilteringBoundLogger

from orchestrator.core.commands import StartAgent, StopAgent, StopAttempts
from orchestrator.runtime.actor_names import agent_actor_name, current_actor_name, start_named
from orchestrator.runtime.agent_host import agent_host_class
from orchestrator.runtime.bus.agents import AgentBusAccess
from orchestrator.runtime.ray_options import actor_options
from orchestrator.settings import LoggingSettings


class AgentRegistry:
    """Agent actor handles by agent id, and the heartbeat actor (once started).

    Args:
        logging: Handed to each agent (its own log configuration).
        log: Where starts and stops are told.
        start_heartbeat: Starts the heartbeat actor and returns its handle.
        tracer_provider_factory: Handed to each agent, which builds its tracer provider
            with it (the handlers' own spans); None: agents do not trace.
        bus: The bus access handed to each agent (``ctx.publish``/``request``), per
            pool; None: agents have no bus.
    """

    def __init__(
        self,
        logging: LoggingSettings,
        log: FilteringBoundLogger,
        start_heartbeat: Callable[[], Any],
        tracer_provider_factory: Callable[[], Any] | None = None,
        bus: AgentBusAccess | None = None,
    ) -> None:
        self._bus = bus
        self.handles: dict[str, Any] = {}
        self.heartbeat: Any = None
        self._logging = logging
        self._log = log
        self._start_heartbeat = start_heartbeat
        self._tracer_provider_factory = tracer_provider_factory

    def __len__(self) -> int:
        return len(self.handles)

    def __getitem__(self, agent_id: str) -> Any:
        return self.handles[agent_id]

    def ensure_heartbeat(self) -> None:
        """Start the heartbeat actor unless it runs."""
        if self.heartbeat is None:
            self.heartbeat = self._start_heartbeat()

    def resync(self) -> None:
        """Ask the heartbeat actor to read the list of live agents again."""
        if self.heartbeat is not None and self.handles:
            self.heartbeat.resync.remote()

    def execute(self, command: StartAgent | StopAgent | StopAttempts) -> None:
        """Carry out a command about one agent."""
        match command:
            case StartAgent():
                self.start(command)
            case StopAgent():
                self.stop(command)
            case StopAttempts():
                self.stop_attempts(command)

    def start(self, command: StartAgent) -> None:
        """Start the agent actor ``command`` names, where it says; have it watched."""
        pool = command.pool
        actor_class = agent_host_class(pool.max_concurrency)
        handle = start_named(
            actor_class,
            actor_options(pool.resources, command.node_id),
            agent_actor_name(current_actor_name(), command.agent_id),
            command.agent_id,
            pool.agent_class,
            pool.init_kwargs,
            self._logging,
            self._tracer_provider_factory,
            self._bus.for_pool(pool.key) if self._bus is not None else None,
        )
        self.handles[command.agent_id] = handle
        if self.heartbeat is not None:
            self.heartbeat.register.remote(command.agent_id, [handle])
        self._log.debug("agent.started", agent_id=command.agent_id, pool=pool.key)

    def stop(self, command: StopAgent) -> None:
        """Stop an agent; a lost one's cause (Ray's long message) is logged here, once."""
        self._kill(command.agent_id)
        if command.lost:
            self._log.warning("agent.lost", agent_id=command.agent_id, reason=command.reason)
        else:
            self._log.info("agent.stopped", agent_id=command.agent_id, reason=command.reason)

    def stop_attempts(self, command: StopAttempts) -> None:
        """Ask an agent to stop attempts (preempted), or to hand back those not started.

        It answers on its health thread.
        """
        handle = self.handles.get(command.agent_id)
        if handle is not None:
            handle.request_stop.remote(list(command.attempt_ids), command.unstarted_only)
            self._log.info(
                "agent.handing_back" if command.unstarted_only else "agent.preempting",
                agent_id=command.agent_id,
                attempts=len(command.attempt_ids),
                reason=command.reason,
            )

    def stop_all(self) -> None:
        """End every agent and the heartbeat actor (shutdown)."""
        for agent_id in list(self.handles):
            self._kill(agent_id, unregister=False)  # the heartbeat goes too
        if self.heartbeat is not None:
            ray.kill(self.heartbeat, no_restart=True)
            self.heartbeat = None

    def _kill(self, agent_id: str, *, unregister: bool = True) -> None:
        handle = self.handles.pop(agent_id, None)
        if unregister and self.heartbeat is not None:
            self.heartbeat.unregister.remote(agent_id)
        if handle is not None:
            ray.kill(handle, no_restart=True)
