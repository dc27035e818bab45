"""Names of the orchestrator's actors, so that the Ray dashboard and state API tell them apart.

The supervisor is named ``ray.supervisor_name`` (``supervisor``); the actors it starts are
named after it: ``supervisor.heartbeat`` and ``supervisor.agent.<pool>#<n>`` (an agent's id
is its pool's key and a counter), all in the orchestrator's namespace. In
``ray.util.state.list_actors()`` and the dashboard's actor list they then read as what
they are, instead of a dozen anonymous ``AgentHost`` rows.

A name is a convenience, never a requirement: when it is taken (a supervisor restarted
while the actors of its previous life are still being torn down), the actor starts
unnamed rather than not at all.
"""

from __future__ import annotations

from typing import Any

import ray

#: Separator between the supervisor's name and what it started.
SEPARATOR = "."


def heartbeat_actor_name(supervisor_name: str) -> str:
    """Return the heartbeat actor's name for a supervisor named ``supervisor_name``."""
    return f"{supervisor_name}{SEPARATOR}heartbeat"


def agent_actor_name(supervisor_name: str, agent_id: str) -> str:
    """Return the name of agent ``agent_id`` (``<pool key>#<n>``) of ``supervisor_name``."""
    return f"{supervisor_name}{SEPARATOR}agent{SEPARATOR}{agent_id}"


def pool_of_actor_name(supervisor_name: str, actor_name: str) -> str | None:
    """Return the pool key in an agent's actor name, or None for any other name."""
    prefix = f"{supervisor_name}{SEPARATOR}agent{SEPARATOR}"
    if not actor_name.startswith(prefix):
        return None
    agent_id = actor_name[len(prefix) :]
    pool, _, _ = agent_id.rpartition("#")
    return pool or None


def current_actor_name(default: str = "supervisor") -> str:
    """Return the name of the actor this code runs in (``default`` outside a named actor).

    Never starts Ray: ``ray.get_runtime_context()`` would, in a process without one.
    """
    if not ray.is_initialized():
        return default
    try:
        name = ray.get_runtime_context().get_actor_name()
    except Exception:  # not in an actor, or Ray not initialised
        return default
    return name or default


def start_named(actor_class: Any, options: dict[str, Any], name: str, *args: Any) -> Any:
    """Start ``actor_class`` with ``options`` under ``name``; unnamed if the name is taken.

    Returns:
        The actor's handle.
    """
    try:
        return actor_class.options(**options, name=name).remote(*args)
    except ValueError:  # "The name ... is already taken": a predecessor still going away
        return actor_class.options(**options).remote(*args)
