"""`HeartbeatMonitor`: tells healthy from slow from hung from dead, from pings and pongs.

Pure bookkeeping; the heartbeat actor sends the pings and feeds the answers in.

- starting: registered, never answered yet (allowed ``start_timeout_s``);
- healthy: answers pings within ``slow_after_s``;
- slow: answered, but later than ``slow_after_s`` (busy machine, long GC...): reported,
  not replaced;
- hung: a ping has waited more than ``hung_after_s`` while Ray still reports the process
  alive (e.g. a task holding the GIL in C code): replaced;
- dead: Ray reported the process gone: replaced;
- failed_to_start: never answered within ``start_timeout_s``: replaced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AgentHealth(enum.StrEnum):
    """What the monitor believes about one agent."""

    STARTING = "starting"
    HEALTHY = "healthy"
    SLOW = "slow"
    HUNG = "hung"
    DEAD = "dead"
    FAILED_TO_START = "failed_to_start"

    @property
    def needs_replacement(self) -> bool:
        """Whether the agent must be stopped and its work re-queued."""
        return self in {AgentHealth.HUNG, AgentHealth.DEAD, AgentHealth.FAILED_TO_START}


@dataclass(frozen=True, slots=True)
class HealthChange:
    """An agent moved from one health to another.

    Attributes:
        agent_id: The agent.
        previous: Its former health.
        current: Its new health.
        detail: Why, in words (latency, silence, Ray's error).
    """

    agent_id: str
    previous: AgentHealth
    current: AgentHealth
    detail: str


@dataclass(slots=True)
class _Watch:
    registered_s: float
    health: AgentHealth = AgentHealth.STARTING
    # When the agent's silence began: the first ping not answered yet. A ping lost on the
    # way (transient error) is sent again, but the silence keeps counting from here.
    ping_sent_s: float | None = None
    ping_in_flight: bool = False
    last_pong_s: float | None = None
    last_latency_s: float | None = None


class HeartbeatMonitor:
    """Per-agent health from ping/pong timings.

    Args:
        slow_after_s: Pong latency above which an agent is slow.
        hung_after_s: Silence after a ping above which a started agent is hung.
        start_timeout_s: Time allowed to answer the first ping.
    """

    def __init__(self, *, slow_after_s: float, hung_after_s: float, start_timeout_s: float) -> None:
        if not 0 < slow_after_s <= hung_after_s:
            raise ValueError("need 0 < slow_after_s <= hung_after_s")
        self._slow_after_s = slow_after_s
        self._hung_after_s = hung_after_s
        self._start_timeout_s = start_timeout_s
        self._watches: dict[str, _Watch] = {}

    def register(self, agent_id: str, now_s: float) -> None:
        """Start watching ``agent_id``."""
        self._watches[agent_id] = _Watch(registered_s=now_s)

    def unregister(self, agent_id: str) -> None:
        """Stop watching ``agent_id`` (it was stopped on purpose)."""
        self._watches.pop(agent_id, None)

    def agents(self) -> list[str]:
        """Return the agents being watched."""
        return list(self._watches)

    def health(self, agent_id: str) -> AgentHealth:
        """Return the current belief about ``agent_id``. Raises `KeyError` if unknown."""
        return self._watches[agent_id].health

    def due_for_ping(self, now_s: float) -> list[str]:
        """Return agents with no ping in flight that are not yet given up on."""
        return [
            agent_id
            for agent_id, watch in self._watches.items()
            if not watch.ping_in_flight and not watch.health.needs_replacement
        ]

    def ping_sent(self, agent_id: str, now_s: float) -> None:
        """Record that a ping left for ``agent_id``."""
        watch = self._watches.get(agent_id)
        if watch is not None and not watch.ping_in_flight:
            watch.ping_in_flight = True
            if watch.ping_sent_s is None:
                watch.ping_sent_s = now_s

    def ping_unanswered(self, agent_id: str) -> None:
        """Record that the ping in flight got no answer (a transient transport error).

        Another ping may be sent, but the silence still counts from the first unanswered
        ping: an agent that stays unreachable becomes hung as if it had never answered.
        """
        watch = self._watches.get(agent_id)
        if watch is not None:
            watch.ping_in_flight = False

    def pong(self, agent_id: str, now_s: float) -> HealthChange | None:
        """Record the answer to the outstanding ping; return the health change, if any."""
        watch = self._watches.get(agent_id)
        if watch is None or watch.ping_sent_s is None or watch.health.needs_replacement:
            return None
        latency_s = now_s - watch.ping_sent_s
        first_answer = watch.last_pong_s is None
        watch.ping_sent_s = None
        watch.ping_in_flight = False
        watch.last_pong_s = now_s
        watch.last_latency_s = latency_s
        if first_answer:
            # The first ping waits for the process to start: its latency says nothing.
            started_s = now_s - watch.registered_s
            return self._move(agent_id, watch, AgentHealth.HEALTHY, f"ready after {started_s:.2f}s")
        if latency_s > self._slow_after_s:
            return self._move(agent_id, watch, AgentHealth.SLOW, f"pong after {latency_s:.2f}s")
        return self._move(agent_id, watch, AgentHealth.HEALTHY, f"pong after {latency_s:.3f}s")

    def died(self, agent_id: str, reason: str) -> HealthChange | None:
        """Record that Ray reported ``agent_id`` dead."""
        watch = self._watches.get(agent_id)
        if watch is None or watch.health.needs_replacement:
            return None
        watch.ping_sent_s = None
        watch.ping_in_flight = False
        return self._move(agent_id, watch, AgentHealth.DEAD, reason)

    def check(self, now_s: float) -> list[HealthChange]:
        """Return agents that became hung or failed to start by ``now_s``."""
        changes = []
        for agent_id, watch in self._watches.items():
            if watch.health.needs_replacement:
                continue
            if watch.last_pong_s is None:
                waited_s = now_s - watch.registered_s
                if waited_s > self._start_timeout_s:
                    change = self._move(
                        agent_id,
                        watch,
                        AgentHealth.FAILED_TO_START,
                        f"no answer {waited_s:.1f}s after start (limit {self._start_timeout_s:g}s)",
                    )
                    if change is not None:
                        changes.append(change)
                continue
            if watch.ping_sent_s is not None:
                silent_s = now_s - watch.ping_sent_s
                if silent_s > self._hung_after_s:
                    change = self._move(
                        agent_id,
                        watch,
                        AgentHealth.HUNG,
                        f"no pong for {silent_s:.1f}s (limit {self._hung_after_s:g}s)"
                        " although Ray reports the process alive",
                    )
                    if change is not None:
                        changes.append(change)
        return changes

    @staticmethod
    def _move(
        agent_id: str, watch: _Watch, health: AgentHealth, detail: str
    ) -> HealthChange | None:
        if watch.health is health:
            return None
        previous = watch.health
        watch.health = health
        return HealthChange(agent_id, previous, health, detail)
