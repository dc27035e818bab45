"""Resource shapes and the arithmetic the scheduler needs to place agents.

A `ResourceSpec` is what a task or an agent declares: CPU, GPU, memory, Ray custom
resources (``{"accelerator_type:A100": 1, "db_conn": 1}``) and placement hints (node
labels a node must carry, ``pack`` or ``spread``); a `ResourceVector` is the same as plain
values for arithmetic; `describe_infeasible` says precisely which resource or label no
node has. What the cluster holds node by node is the `ResourceLedger`'s
(``placement.py``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Display names of the resources users declare, as used in error messages.
RESOURCE_LABELS: Mapping[str, str] = {
    "num_cpus": "CPU",
    "num_gpus": "GPU",
    "memory_bytes": "memory (bytes)",
}

_EPSILON = 1e-9

#: Names Ray keeps for itself: never custom resources (declare them with the fields).
RESERVED_RESOURCE_NAMES = frozenset({"CPU", "GPU", "memory", "object_store_memory"})
_SPEC_FIELDS = ("num_cpus", "num_gpus", "memory_bytes", "custom", "node_labels", "placement")

#: Names people write for the fields (after lower case, ``num_``, ``_bytes``, plural ``s``).
_ALIASES = frozenset({"cpu", "gpu", "mem", "memory"})

CustomAmounts = tuple[tuple[str, float], ...]
Labels = tuple[tuple[str, str], ...]


def _split_custom(data: Any) -> Any:
    """Move keys that are no field of `ResourceSpec` into ``custom`` (Ray's resource names).

    A key that reads like a field (``cpus``, ``num_gpu``, ``Memory``) or is a name Ray
    keeps (``CPU``) stays where it is, so pydantic refuses it as an unknown field at its
    own location: a typo never becomes a custom resource that no node has.
    """
    if not isinstance(data, Mapping):
        return data
    moved = {key: value for key, value in data.items() if _custom_name(key)}
    if not moved:
        return data
    custom = data.get("custom")
    custom = dict(custom) if isinstance(custom, Mapping) else {}
    for key, value in moved.items():
        if key in custom:
            raise ValueError(f"custom resource {key!r} is given twice")
        custom[key] = value
    kept = {key: value for key, value in data.items() if key not in moved}
    kept["custom"] = custom
    return kept


def _custom_name(key: object) -> bool:
    """Return whether ``key``, not a field, is taken for a custom resource's name."""
    if not isinstance(key, str) or not key or key in _SPEC_FIELDS:
        return False
    if key in RESERVED_RESOURCE_NAMES:
        return False
    if key.lower().removeprefix("num_").removesuffix("_bytes").rstrip("s") in _ALIASES:
        return False
    return not difflib.get_close_matches(key, _SPEC_FIELDS, n=1, cutoff=0.8)


class ResourceSpec(BaseModel):
    """What one task or one agent replica needs from the node it runs on.

    Keys that are not fields are Ray custom resources: ``{"num_cpus": 1, "db_conn": 1}``
    is the same as ``{"num_cpus": 1, "custom": {"db_conn": 1}}``.

    Attributes:
        num_cpus: Logical CPUs (fractions allowed), as Ray counts them.
        num_gpus: GPUs (fractions allowed).
        memory_bytes: Memory reserved for the replica, in bytes.
        custom: Ray custom resources by name (e.g. ``accelerator_type:A100``), reserved as
            Ray's ``resources=`` option; a node must offer them (``ray start --resources``).
        node_labels: Labels a node must carry to host the replica (Ray node labels, e.g.
            ``{"zone": "eu-1"}``); every one must match.
        placement: ``pack`` (default: the node left with the least free room, keeping
            others whole) or ``spread`` (the node with the fewest replicas of the same
            pool, then the most free room).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: float = Field(default=1.0, ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)
    custom: dict[str, float] = Field(default_factory=dict)
    node_labels: dict[str, str] = Field(default_factory=dict)
    placement: Literal["pack", "spread"] = "pack"

    @model_validator(mode="before")
    @classmethod
    def _custom_from_extra_keys(cls, data: Any) -> Any:
        return _split_custom(data)

    @field_validator("custom")
    @classmethod
    def _custom_amounts(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if not name or name in RESERVED_RESOURCE_NAMES:
                raise ValueError(f"{name!r} cannot be a custom resource name")
            if amount < 0:
                raise ValueError(f"custom resource {name!r} must be >= 0, got {amount:g}")
            if amount > 1 and amount != int(amount):  # Ray's own rule
                raise ValueError(
                    f"custom resource {name!r}: {amount:g} is above 1, so must be whole"
                )
        return {name: float(amount) for name, amount in sorted(value.items()) if amount > 0}

    @field_validator("node_labels")
    @classmethod
    def _labels_named(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key:
                raise ValueError("a node label needs a non-empty name")
        return dict(sorted(value.items()))

    def __hash__(self) -> int:
        return hash(
            (
                self.num_cpus,
                self.num_gpus,
                self.memory_bytes,
                tuple(self.custom.items()),
                tuple(self.node_labels.items()),
                self.placement,
            )
        )

    def as_vector(self) -> ResourceVector:
        """Return the shape as a plain vector for hot-path arithmetic."""
        return ResourceVector(
            self.num_cpus,
            self.num_gpus,
            float(self.memory_bytes),
            tuple(self.custom.items()),
            tuple(self.node_labels.items()),
            self.placement == "spread",
        )

    def label(self) -> str:
        """Return a short human label such as ``cpu=1,gpu=0,mem=0`` (custom parts after)."""
        text = f"cpu={self.num_cpus:g},gpu={self.num_gpus:g},mem={self.memory_bytes}"
        for name, amount in self.custom.items():
            text += f",{name}={amount:g}"
        for key, value in self.node_labels.items():
            text += f",label:{key}={value}"
        if self.placement == "spread":
            text += ",spread"
        return text


@dataclass(frozen=True, slots=True)
class ResourceVector:
    """A resource amount as plain values, and, for a demand, where it may be placed.

    Attributes:
        num_cpus: CPUs.
        num_gpus: GPUs.
        memory_bytes: Memory in bytes.
        custom: Custom resource amounts, sorted by name (empty for most shapes).
        labels: Node labels a demand requires (sums and differences carry none).
        spread: Whether a demand prefers the node with fewest replicas of its pool.
    """

    num_cpus: float = 0.0
    num_gpus: float = 0.0
    memory_bytes: float = 0.0
    custom: CustomAmounts = ()
    labels: Labels = ()
    spread: bool = False

    def __add__(self, other: ResourceVector) -> ResourceVector:
        return ResourceVector(
            self.num_cpus + other.num_cpus,
            self.num_gpus + other.num_gpus,
            self.memory_bytes + other.memory_bytes,
            _combine(self.custom, other.custom, 1.0),
        )

    def __sub__(self, other: ResourceVector) -> ResourceVector:
        return ResourceVector(
            self.num_cpus - other.num_cpus,
            self.num_gpus - other.num_gpus,
            self.memory_bytes - other.memory_bytes,
            _combine(self.custom, other.custom, -1.0),
        )

    def amount(self, name: str) -> float:
        """Return the custom resource ``name``'s amount (0 when absent)."""
        for key, value in self.custom:
            if key == name:
                return value
        return 0.0

    def fits_in(self, capacity: ResourceVector) -> bool:
        """Return whether every amount is at most the capacity's (labels not considered)."""
        return (
            self.num_cpus <= capacity.num_cpus + _EPSILON
            and self.num_gpus <= capacity.num_gpus + _EPSILON
            and self.memory_bytes <= capacity.memory_bytes + _EPSILON
            and all(value <= capacity.amount(name) + _EPSILON for name, value in self.custom)
        )

    def shortfalls(self, capacity: ResourceVector) -> list[tuple[str, float, float]]:
        """Return ``(resource name, needed, available)`` for each amount that does not fit."""
        missing = []
        for name in RESOURCE_LABELS:
            needed = getattr(self, name)
            available = getattr(capacity, name)
            if needed > available + _EPSILON:
                missing.append((name, float(needed), float(available)))
        for name, needed in self.custom:
            available = capacity.amount(name)
            if needed > available + _EPSILON:
                missing.append((name, needed, available))
        return missing


def _combine(left: CustomAmounts, right: CustomAmounts, sign: float) -> CustomAmounts:
    """Return ``left + sign * right`` by name (the common case, both empty, costs nothing)."""
    if not right:
        return left
    total = dict(left)
    for name, value in right:
        total[name] = total.get(name, 0.0) + sign * value
    return tuple(sorted(total.items()))


class NodeCapacity(BaseModel):
    """The total resources and the labels of one cluster node, as reported by the runtime.

    Attributes:
        node_id: Ray's node id.
        num_cpus: CPUs.
        num_gpus: GPUs.
        memory_bytes: Memory in bytes.
        custom: Custom resources the node offers, by name.
        labels: The node's labels.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str
    num_cpus: float = Field(ge=0)
    num_gpus: float = Field(default=0.0, ge=0)
    memory_bytes: int = Field(default=0, ge=0)
    custom: dict[str, float] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)

    def as_vector(self) -> ResourceVector:
        """Return the node's totals as a vector."""
        return ResourceVector(
            self.num_cpus,
            self.num_gpus,
            float(self.memory_bytes),
            tuple(sorted(self.custom.items())),
        )

    def carries(self, labels: Labels) -> bool:
        """Return whether the node has every one of ``labels`` with the same value."""
        return all(self.labels.get(key) == value for key, value in labels)


def describe_infeasible(shape: ResourceVector, nodes: Iterable[NodeCapacity]) -> str | None:
    """Explain why no node could ever host ``shape``, or return None when one can.

    Only nodes carrying the demand's labels count. The message names each resource that
    is short on every such node together with the largest amount any of them has, e.g.
    ``needs 1 GPU but the largest node has 0`` or ``needs 1 db_conn but the largest node
    has 0``, or the labels no node carries.
    """
    node_list = list(nodes)
    if not node_list:
        return "the cluster reports no nodes"
    labelled = [node for node in node_list if node.carries(shape.labels)]
    if not labelled:
        wanted = ", ".join(f"{key}={value}" for key, value in shape.labels)
        return f"needs a node labelled {wanted} but no node carries those labels"
    if any(shape.fits_in(node.as_vector()) for node in labelled):
        return None
    where = "the largest node" if len(labelled) == len(node_list) else "the largest such node"
    reasons = []
    for name, label in RESOURCE_LABELS.items():
        needed = getattr(shape, name)
        largest = max(getattr(node, name) for node in labelled)
        if needed > largest + _EPSILON:
            reasons.append(f"needs {needed:g} {label} but {where} has {largest:g}")
    for name, needed in shape.custom:
        largest = max(node.custom.get(name, 0.0) for node in labelled)
        if needed > largest + _EPSILON:
            reasons.append(f"needs {needed:g} {name} but {where} has {largest:g}")
    if not reasons:
        reasons.append("no single node has all of the requested resources at once")
    return "; ".join(reasons)
