"""Starting or joining Ray, and reading what the cluster's nodes offer."""

from __future__ import annotations

import os
from typing import Any

import ray

from orchestrator.core.resources import NodeCapacity
from orchestrator.settings import RaySettings


def connect(settings: RaySettings, address: str | None = None) -> bool:
    """Make sure this process is connected to Ray; return whether this call started it.

    ``address`` (or ``settings.address``) ``"local"`` starts an embedded Ray: always with
    an explicit ``address="local"``, because a bare ``ray.init()`` may try to join a stale
    cluster recorded in Ray's temp directory. Usage statistics are off (no network).
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    target = address or settings.address
    options: dict[str, Any] = {
        "namespace": settings.namespace,
        "log_to_driver": settings.log_to_driver,
    }
    if target == "local":
        # "token" is Ray's own default for a new local cluster (it writes
        # ~/.ray/auth_token and switches its cached config). "disabled" must be in the
        # environment before Ray starts its processes. An explicit RAY_AUTH_MODE wins.
        if settings.auth_mode == "disabled":
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        options["include_dashboard"] = settings.include_dashboard
        # Loopback only, even when off: the dashboard steers the cluster (jobs, actors,
        # logs); see the README's security section.
        options["dashboard_host"] = "127.0.0.1"
        if settings.include_dashboard and settings.dashboard_port:
            options["dashboard_port"] = settings.dashboard_port
        if settings.metrics_export_port:
            options["_metrics_export_port"] = settings.metrics_export_port
        if settings.num_cpus is not None:
            options["num_cpus"] = settings.num_cpus
        if settings.num_gpus is not None:
            options["num_gpus"] = settings.num_gpus
    ray.init(address=target, **options)
    return True


#: Ray's resources that are fields of `NodeCapacity` or never asked for by agents.
_NOT_CUSTOM = frozenset({"CPU", "GPU", "memory", "object_store_memory"})


def observe_nodes() -> tuple[NodeCapacity, ...]:
    """Return the CPU, GPU, memory, custom resources and labels of every live node."""
    nodes = []
    for node in ray.nodes():
        if not node.get("Alive", False):
            continue
        resources = node.get("Resources", {})
        nodes.append(
            NodeCapacity(
                node_id=str(node.get("NodeID", "?")),
                num_cpus=float(resources.get("CPU", 0.0)),
                num_gpus=float(resources.get("GPU", 0.0)),
                memory_bytes=int(resources.get("memory", 0.0)),
                custom={
                    str(name): float(amount)
                    for name, amount in resources.items()
                    if name not in _NOT_CUSTOM
                },
                labels={str(key): str(value) for key, value in node.get("Labels", {}).items()},
            )
        )
    return tuple(nodes)


def disconnect() -> None:
    """Leave Ray; an embedded Ray that this process started stops with it."""
    ray.shutdown()
