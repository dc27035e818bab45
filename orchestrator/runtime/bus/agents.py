"""Agents on the bus: what a replica publishes and asks from a handler, and how it answers.

From a handler, through its task context::

    def handle(self, ctx):
        ctx.publish("progress.crawl", {"pages": 10})
        reply = ctx.request({"text": chunk}, pool="Summariser", timeout_s=30)
        return reply.payload

An agent answers requests by defining ``on_request(self, message) -> reply``; each
replica then listens on ``agent.<agent_id>`` (asked by id) and, one replica of the pool
answering each request, on ``pool.<agent name>`` (asked by pool). ``on_request`` runs in
a thread of its own, beside the replica's tasks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

from orchestrator.runtime.bus.actor import ActorBus, get_or_create_bus_actor
from orchestrator.runtime.bus.interface import Responder
from orchestrator.runtime.bus.messages import BusMessage, topic_word
from orchestrator.settings import Settings


def agent_topic(agent_id: str) -> str:
    """Return the topic on which agent ``agent_id`` answers requests."""
    return f"agent.{topic_word(agent_id)}"


def pool_topic(pool: str) -> str:
    """Return the topic on which one replica of agent (pool) ``pool`` answers requests.

    Pools resized for a task (``Name[cpu=2,...]``) answer as their agent, ``Name``.
    """
    return f"pool.{topic_word(pool.split('[', 1)[0])}"


@dataclass(frozen=True, slots=True)
class AgentBusAccess:
    """What an agent replica needs to reach the bus (sent to it when it starts).

    Attributes:
        actor_name: The bus actor's name.
        namespace: Its namespace.
        max_message_bytes: The payload size limit.
        subscriber_lease_s: The bus's lease (if the replica must create the actor).
        pool: The replica's pool key.
    """

    actor_name: str
    namespace: str
    max_message_bytes: int
    subscriber_lease_s: float
    pool: str = ""

    def for_pool(self, pool: str) -> AgentBusAccess:
        """Return the same access for a replica of ``pool``."""
        return replace(self, pool=pool)


def agent_bus_access(settings: Settings) -> AgentBusAccess:
    """Return the bus access of the orchestrator's agents."""
    return AgentBusAccess(
        actor_name=f"{settings.ray.supervisor_name}-bus",
        namespace=settings.ray.namespace,
        max_message_bytes=settings.bus.max_message_bytes,
        subscriber_lease_s=settings.bus.subscriber_lease_s,
    )


class AgentBusLink:
    """An agent replica's client of the bus (connected on first use).

    Args:
        access: Where the bus is.
        agent_id: The replica (the sender of what it publishes).
    """

    def __init__(self, access: AgentBusAccess, agent_id: str) -> None:
        self.access = access
        self.agent_id = agent_id
        self._bus: ActorBus | None = None
        self._lock = threading.Lock()
        self._responders: list[Responder] = []

    @property
    def bus(self) -> ActorBus:
        """The replica's bus client."""
        with self._lock:
            if self._bus is None:
                access = self.access
                handle = get_or_create_bus_actor(
                    access.actor_name,
                    access.namespace,
                    subscriber_lease_s=access.subscriber_lease_s,
                )
                self._bus = ActorBus(
                    handle, self.agent_id, max_message_bytes=access.max_message_bytes
                )
            return self._bus

    def publish(self, topic: str, payload: Any = None) -> None:
        """Publish and wait until it is delivered (before the task's outcome is)."""
        self.bus.publish(topic, payload)
        self.bus.flush()

    def request(
        self,
        payload: Any = None,
        *,
        timeout_s: float,
        pool: str | None = None,
        agent_id: str | None = None,
        topic: str | None = None,
    ) -> BusMessage:
        """Ask one agent (``agent_id``), one replica of a pool (``pool``) or a topic.

        Raises:
            ValueError: not exactly one of ``pool``, ``agent_id`` and ``topic``.
            BusTimeoutError: no reply within ``timeout_s``.
        """
        targets = [t for t in (pool, agent_id, topic) if t is not None]
        if len(targets) != 1:
            raise ValueError("request: give exactly one of pool=, agent_id= or topic=")
        if pool is not None:
            topic = pool_topic(pool)
        elif agent_id is not None:
            topic = agent_topic(agent_id)
        assert topic is not None
        return self.bus.request(topic, payload, timeout_s=timeout_s)

    def serve(self, agent: Any) -> bool:
        """Answer requests with ``agent.on_request`` if it has one; return whether it does."""
        answer = getattr(agent, "on_request", None)
        if not callable(answer):
            return False
        bus = self.bus
        self._responders.append(bus.serve(agent_topic(self.agent_id), answer))
        if self.access.pool:
            pool = pool_topic(self.access.pool)
            self._responders.append(bus.serve(pool, answer, group=pool))
        return True

    def close(self) -> None:
        """Stop answering and close the client."""
        for responder in self._responders:
            responder.stop()
        self._responders.clear()
        if self._bus is not None:
            self._bus.close()
