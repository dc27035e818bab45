"""Wiring: the one place where the runtime's actors are created and their parts injected.

The driver creates (or finds) the supervisor actor; inside its process, `SupervisorActor`
sets the process up and hands the `Supervisor` its clock, logger, tracer and a way to start
its heartbeat actor. The supervisor starts agents itself, as the scheduler asks.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from functools import partial
from typing import Any

import ray
from opentelemetry.trace import TracerProvider

from orchestrator.runtime.actor_names import heartbeat_actor_name, start_named
from orchestrator.runtime.bus.wiring import bus_actor
from orchestrator.runtime.clock import WallClock
from orchestrator.runtime.heartbeat import HeartbeatService
from orchestrator.runtime.supervisor_door import GuardedSupervisor
from orchestrator.runtime.tracing import WorkflowTracer
from orchestrator.settings import Settings
from orchestrator.telemetry.logging import configure_logging, get_logger

#: The supervisor process's collector thresholds: it holds many long-lived small objects,
#: so young ones are collected less often (fewer full scans). `benchmarks/core_sim.py`
#: applies the same setting.
SUPERVISOR_GC_THRESHOLD = (50_000, 20, 100)
#: Ray warns once per async actor process at its first ``ray.get``, wherever it runs. The
#: supervisor's ``ray.get`` reads results of calls that have finished, already stored, so
#: it never waits for a task: pages of results on worker threads (`results.read_page`),
#: values for the result cache on the loop. The warning (seen in ``make demo``) is noise.
QUIET_BLOCKING_GET_WARNING = {"RAY_WARN_BLOCKING_GET_INSIDE_ASYNC": "0"}


def prepare_supervisor_process(settings: Settings) -> None:
    """Set up the supervisor's process: collector thresholds, logging, Ray's warnings."""
    gc.set_threshold(*SUPERVISOR_GC_THRESHOLD)
    configure_logging(settings.logging)
    os.environ.update(QUIET_BLOCKING_GET_WARNING)


def spawn_heartbeat(settings: Settings) -> Any:
    """Start the heartbeat actor that watches this supervisor's agents; return its handle.

    Call it inside the supervisor actor: the heartbeat reports to the current actor.
    Ray restarts the heartbeat if its process dies; its memory is then gone, so it asks
    the supervisor for the live agents (`resync`), now and whenever the supervisor says.
    """
    me = ray.get_runtime_context().current_actor
    heartbeat: Any = start_named(
        ray.remote(HeartbeatService),
        {
            "num_cpus": 0,
            "max_restarts": -1,
            "max_task_retries": -1,
            "resources": _placement(settings),
        },
        heartbeat_actor_name(settings.ray.supervisor_name),
        me,
        settings.heartbeat,
        settings.logging,
    )
    heartbeat.resync.remote()
    return heartbeat


class SupervisorActor(GuardedSupervisor):
    """The `Supervisor`, behind its door, as Ray runs it: its process set up, parts wired.

    Args:
        settings: All settings.
        tracer_provider_factory: Builds the tracer provider in this process; by default one
            from ``settings.tracing``.
    """

    def __init__(
        self,
        settings: Settings,
        tracer_provider_factory: Callable[[], TracerProvider] | None = None,
    ) -> None:
        prepare_supervisor_process(settings)
        super().__init__(
            settings,
            clock=WallClock(),
            log=get_logger("orchestrator.supervisor"),
            tracer=WorkflowTracer(tracer_provider_factory, settings.tracing),
            start_heartbeat=partial(spawn_heartbeat, settings),
        )


#: Ray's resource of the head node; a sliver of it pins an actor there.
HEAD_NODE_RESOURCE = "node:__internal_head__"


def _placement(settings: Settings) -> dict[str, float]:
    """Return the custom resources that keep the control actors on the head node."""
    return {HEAD_NODE_RESOURCE: 0.001} if settings.ray.supervisor_on_head else {}


def find_supervisor(settings: Settings) -> Any | None:
    """Return a handle to the running named supervisor of the namespace, or None."""
    try:
        return ray.get_actor(settings.ray.supervisor_name, namespace=settings.ray.namespace)
    except ValueError:
        return None


def spawn_supervisor(
    settings: Settings,
    tracer_provider_factory: Callable[[], TracerProvider] | None = None,
) -> tuple[Any, bool]:
    """Return a handle to the named supervisor, creating it if the namespace has none.

    The supervisor asks for no CPU: it decides, agents work. It is named, so other drivers
    in the same namespace find it; with ``ray.detached`` it outlives this driver.

    Returns:
        The handle, and whether this call created the supervisor (a driver that only
        joined one must not stop it).
    """
    running = find_supervisor(settings)
    if running is not None:
        return running, False
    bus_actor(settings, wait_s=120.0)  # up before the supervisor, so it outlives one
    options: dict[str, Any] = {
        "name": settings.ray.supervisor_name,
        "namespace": settings.ray.namespace,
        "get_if_exists": True,
        "num_cpus": 0,
        # With durable state, Ray restarts a crashed supervisor, which reloads its
        # checkpoint; without, a restart would come back empty: better to say it is gone.
        "max_restarts": -1 if settings.checkpoint.storage else 0,
        "resources": _placement(settings),
    }
    if settings.ray.detached:
        options["lifetime"] = "detached"
    actor = ray.remote(SupervisorActor).options(**options)
    return actor.remote(settings, tracer_provider_factory), True
