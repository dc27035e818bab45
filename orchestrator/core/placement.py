"""`ResourceLedger`: the cluster's nodes, and which agent holds what on which node.

An agent is placed on one node that carries the labels its shape requires and has room
for its amounts, custom resources included. By default it packs (best fit: a node without
free GPUs unless it needs some, then the node it leaves with the least free CPU, then
memory), so the scheduler never starts an agent that no single node can hold, however
much capacity the cluster has in sum, and GPU nodes stay free for GPU work. A shape that
asks to spread goes to the node holding the fewest agents of the same shape, then the
one left with the most free CPU. The chosen node goes into `StartAgent` and the runtime
pins the agent there.

Before the runtime has reported any node, nothing is blocked: agents are held unplaced
and placed (as a belief: Ray placed them already) at the first observation. An agent whose
node disappears holds nothing any more; its loss is on its way.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.resources import NodeCapacity, ResourceVector, describe_infeasible

_ZERO = ResourceVector()


class ResourceLedger:
    """Nodes, their free capacity, and the agents placed on them."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeCapacity] = {}
        self._free: dict[str, ResourceVector] = {}
        # agent key -> (shape, node id or None while unplaced)
        self._held: dict[str, tuple[ResourceVector, str | None]] = {}

    @property
    def nodes(self) -> tuple[NodeCapacity, ...]:
        """The nodes last observed."""
        return tuple(self._nodes.values())

    @property
    def known(self) -> bool:
        """Whether the runtime has reported the cluster's nodes yet."""
        return bool(self._nodes)

    @property
    def total(self) -> ResourceVector:
        """Sum of every node's capacity."""
        total = _ZERO
        for node in self._nodes.values():
            total = total + node.as_vector()
        return total

    def free_on(self, node_id: str) -> ResourceVector:
        """Return what ``node_id`` has left (it may be negative after a shrink)."""
        return self._free[node_id]

    def observe(self, nodes: Iterable[NodeCapacity]) -> None:
        """Take the cluster's nodes as they are now; place what is held unplaced if it fits."""
        self._nodes = {node.node_id: node for node in nodes}
        self._free = {node_id: node.as_vector() for node_id, node in self._nodes.items()}
        unplaced = []
        for key, (shape, node_id) in self._held.items():
            if node_id is None:
                unplaced.append(key)
            elif node_id in self._free:
                self._free[node_id] = self._free[node_id] - shape
            # else: its node is gone, and so is the agent (its loss is on its way)
        for key in unplaced:
            shape, _ = self._held[key]
            self._held[key] = (shape, self._best_fit(shape))
            node_id = self._held[key][1]
            if node_id is not None:
                self._free[node_id] = self._free[node_id] - shape

    def drop_node(self, node_id: str) -> None:
        """Forget ``node_id`` at once (an agent on it was lost with it), until observed again."""
        self.observe(node for key, node in self._nodes.items() if key != node_id)

    def can_place(self, shape: ResourceVector) -> bool:
        """Return whether one node has ``shape`` free (or no node is known yet)."""
        return not self._nodes or self._best_fit(shape) is not None

    def place(self, key: str, shape: ResourceVector) -> str | None:
        """Hold ``shape`` for agent ``key`` on the best-fitting node; return that node.

        Returns None while no node is known (the runtime lets Ray place the agent).

        Raises:
            ValueError: ``key`` already holds resources, or no node has room (check
                `can_place` first).
        """
        if key in self._held:
            raise ValueError(f"{key!r} already holds resources")
        if not self._nodes:
            self._held[key] = (shape, None)
            return None
        node_id = self._best_fit(shape)
        if node_id is None:
            raise ValueError(f"no node has room for {key!r}")
        self._held[key] = (shape, node_id)
        self._free[node_id] = self._free[node_id] - shape
        return node_id

    def hold_on(self, key: str, shape: ResourceVector, node_id: str | None) -> None:
        """Hold ``shape`` under ``key`` on ``node_id`` (where an agent held it until lost).

        It keeps a lost agent's share of a gang (`core.gangs`) from going to a new agent
        while the gang's task still runs. ``node_id`` None: held unplaced, as `place`.

        Raises:
            ValueError: ``key`` already holds resources.
        """
        if key in self._held:
            raise ValueError(f"{key!r} already holds resources")
        self._held[key] = (shape, node_id)
        if node_id in self._free:
            self._free[node_id] = self._free[node_id] - shape

    def release(self, key: str) -> None:
        """Give back what agent ``key`` held (nothing if it held nothing)."""
        held = self._held.pop(key, None)
        if held is None:
            return
        shape, node_id = held
        if node_id in self._free:
            self._free[node_id] = self._free[node_id] + shape

    def node_of(self, key: str) -> str | None:
        """Return the node agent ``key`` was placed on (None: unplaced or unknown agent)."""
        held = self._held.get(key)
        return held[1] if held is not None else None

    def infeasible(self, shape: ResourceVector) -> str | None:
        """Return why no node could ever hold ``shape``, or None (also while none is known)."""
        if not self._nodes:
            return None
        return describe_infeasible(shape, self._nodes.values())

    def _best_fit(self, shape: ResourceVector) -> str | None:
        if shape.spread:
            return self._spread_fit(shape)
        best: tuple[bool, float, float, str] | None = None
        wants_gpu = shape.num_gpus > 0
        for node_id, free in self._free.items():
            if shape.fits_in(free) and self._carries(node_id, shape):
                left = free - shape
                spends_gpu_node = not wants_gpu and free.num_gpus > 0
                candidate = (spends_gpu_node, left.num_cpus, left.memory_bytes, node_id)
                if best is None or candidate < best:
                    best = candidate
        return best[-1] if best is not None else None

    def _spread_fit(self, shape: ResourceVector) -> str | None:
        """Return the fitting node with the fewest agents of ``shape``, then the most room."""
        alike: dict[str | None, int] = {}
        for held_shape, node_id in self._held.values():
            if held_shape == shape:
                alike[node_id] = alike.get(node_id, 0) + 1
        best: tuple[int, float, float, str] | None = None
        for node_id, free in self._free.items():
            if shape.fits_in(free) and self._carries(node_id, shape):
                left = free - shape
                candidate = (alike.get(node_id, 0), -left.num_cpus, -left.memory_bytes, node_id)
                if best is None or candidate < best:
                    best = candidate
        return best[-1] if best is not None else None

    def _carries(self, node_id: str, shape: ResourceVector) -> bool:
        return not shape.labels or self._nodes[node_id].carries(shape.labels)
