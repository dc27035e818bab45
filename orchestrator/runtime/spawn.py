"""Wiring: create (or find) the supervisor actor; it creates its heartbeat and agents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray
from opentelemetry.trace import TracerProvider

from orchestrator.runtime.supervisor import Supervisor
from orchestrator.settings import Settings


def spawn_supervisor(
    settings: Settings,
    tracer_provider_factory: Callable[[], TracerProvider] | None = None,
) -> Any:
    """Return a handle to the named supervisor, creating it if the namespace has none.

    The supervisor asks for no CPU: it decides, agents work. It is named, so other drivers
    in the same namespace find it; with ``ray.detached`` it outlives this driver.
    """
    options: dict[str, Any] = {
        "name": settings.ray.supervisor_name,
        "namespace": settings.ray.namespace,
        "get_if_exists": True,
        "num_cpus": 0,
        "max_restarts": 0,
    }
    if settings.ray.detached:
        options["lifetime"] = "detached"
    return ray.remote(Supervisor).options(**options).remote(settings, tracer_provider_factory)
