"""Resource shapes and the arithmetic the scheduler needs to place agents.

A `ResourceSpec` is what a task or an agent declares; a `ResourceVector` is the same
amount as plain floats for arithmetic; `describe_infeasible` says precisely which resource
no node has. What the cluster holds node by node is the `ResourceLedger`'s
(``placement.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

#: Display names of the resources users declare, as used in error messages.
RESOURCE_LABELS: Mapping[str, str] = {
    "num_cpus": "CPU",
    "num_gpus": "GPU",
    "memory_bytes": "memory (bytes)",
}

_EPSILON = 1e-9


class ResourceSpec(BaseModel):
    """CPU, GPU and memory that one task or one agent replica needs.

    Attributes:
        num_cpus: Logical CPUs (fractions allowed), as Ray counts them.
        num_gpus: GPUs (fractions allowed).
        memory_bytes: Memory reserved for the replica, in bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)

    def as_vector(self) -> ResourceVector:
        """Return the shape as a plain vector for hot-path arithmetic."""
        return ResourceVector(self.num_cpus, self.num_gpus, float(self.memory_bytes))

    def label(self) -> str:
        """Return a short human label such as ``cpu=1,gpu=0,mem=0``."""
        return f"cpu={self.num_cpus:g},gpu={self.num_gpus:g},mem={self.memory_bytes}"


@dataclass(frozen=True, slots=True)
class ResourceVector:
    """A resource amount as three floats (CPU, GPU, memory bytes)."""

    num_cpus: float = 0.0
    num_gpus: float = 0.0
    memory_bytes: float = 0.0

    def __add__(self, other: ResourceVector) -> ResourceVector:
        return ResourceVector(
            self.num_cpus + other.num_cpus,
            self.num_gpus + other.num_gpus,
            self.memory_bytes + other.memory_bytes,
        )

    def __sub__(self, other: ResourceVector) -> ResourceVector:
        return ResourceVector(
            self.num_cpus - other.num_cpus,
            self.num_gpus - other.num_gpus,
            self.memory_bytes - other.memory_bytes,
        )

    def fits_in(self, capacity: ResourceVector) -> bool:
        """Return whether every component is at most the capacity's."""
        return (
            self.num_cpus <= capacity.num_cpus + _EPSILON
            and self.num_gpus <= capacity.num_gpus + _EPSILON
            and self.memory_bytes <= capacity.memory_bytes + _EPSILON
        )

    def shortfalls(self, capacity: ResourceVector) -> list[tuple[str, float, float]]:
        """Return ``(resource name, needed, available)`` for each component that does not fit."""
        missing = []
        for name in RESOURCE_LABELS:
            needed = getattr(self, name)
            available = getattr(capacity, name)
            if needed > available + _EPSILON:
                missing.append((name, float(needed), float(available)))
        return missing


class NodeCapacity(BaseModel):
    """The total resources of one cluster node, as reported by the runtime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str
    num_cpus: float = Field(ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)

    def as_vector(self) -> ResourceVector:
        """Return the node's totals as a vector."""
        return ResourceVector(self.num_cpus, self.num_gpus, float(self.memory_bytes))


def describe_infeasible(shape: ResourceVector, nodes: Iterable[NodeCapacity]) -> str | None:
    """Explain why no node could ever host ``shape``, or return None when one can.

    The message names each resource that is short on every node together with the largest
    amount any node has, e.g. ``needs 1 GPU but the largest node has 0``.
    """
    node_list = list(nodes)
    if not node_list:
        return "the cluster reports no nodes"
    if any(shape.fits_in(node.as_vector()) for node in node_list):
        return None
    reasons = []
    for name, label in RESOURCE_LABELS.items():
        needed = getattr(shape, name)
        largest = max(getattr(node, name) for node in node_list)
        if needed > largest + _EPSILON:
            reasons.append(f"needs {needed:g} {label} but the largest node has {largest:g}")
    if not reasons:
        reasons.append("no single node has all of the requested resources at once")
    return "; ".join(reasons)
