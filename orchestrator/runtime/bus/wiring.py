"""Where the bus actor is found: one per supervisor, named after it in its namespace."""

from __future__ import annotations

import contextlib
from typing import Any

import ray

from orchestrator.runtime.bus.actor import ActorBus, get_or_create_bus_actor
from orchestrator.settings import Settings

#: Handles of the bus actors this process created and keeps alive (see `bus_actor`).
_HELD: dict[tuple[str, str], Any] = {}


def bus_actor_name(settings: Settings) -> str:
    """Return the bus actor's name: the supervisor's, with ``-bus``."""
    return f"{settings.ray.supervisor_name}-bus"


def bus_actor(settings: Settings, *, wait_s: float | None = None) -> Any:
    """Return the handle of the orchestrator's bus actor, creating it if need be.

    The driver that creates the supervisor creates it first, and waits (``wait_s``)
    until it is up: it is then the driver's, and outlives a supervisor that crashes and
    comes back (an actor dies with the process that created it); detached with the
    supervisor.
    """
    handle = get_or_create_bus_actor(
        bus_actor_name(settings),
        settings.ray.namespace,
        subscriber_lease_s=settings.bus.subscriber_lease_s,
        detached=settings.ray.detached,
    )
    if wait_s is not None:
        ray.get(handle.ping.remote(), timeout=wait_s)
        # Ray ends an actor when its creator drops every handle, name or not: keep the
        # first (the creator's; replacing it by a looked-up one would end the actor too).
        _HELD.setdefault((settings.ray.namespace, bus_actor_name(settings)), handle)
    return handle


def open_bus(settings: Settings, name: str, **options: Any) -> ActorBus:
    """Return a client of the orchestrator's bus publishing as ``name``.

    ``options`` go to `ActorBus` (``max_pending``, ``drop_when_pending_full``).
    """
    return ActorBus(
        bus_actor(settings), name, max_message_bytes=settings.bus.max_message_bytes, **options
    )


def supervisor_bus(settings: Settings) -> ActorBus:
    """The supervisor's bus client: it never waits for the bus (drops, counted, instead).

    Its events are shipped at most every ``bus.supervisor_linger_s`` (unless a batch fills
    up): one bus call per many task changes instead of one per supervisor step.
    """
    max_pending = settings.bus.supervisor_max_pending
    return open_bus(
        settings,
        "supervisor",
        max_pending=max_pending,
        drop_when_pending_full=True,
        linger_s=settings.bus.supervisor_linger_s,
    )


def stop_bus_actor(settings: Settings) -> None:
    """End the orchestrator's bus actor, if there is one (with the supervisor it serves)."""
    _HELD.pop((settings.ray.namespace, bus_actor_name(settings)), None)
    try:
        handle = ray.get_actor(bus_actor_name(settings), namespace=settings.ray.namespace)
    except ValueError:
        return
    with contextlib.suppress(Exception):
        ray.kill(handle, no_restart=True)
