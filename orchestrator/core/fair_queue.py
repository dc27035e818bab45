"""`FairTaskQueue`: a pool's ready queue, shared by workflows and tenants by weight.

The rule. Priority, then deadline, still decide first: a task of a higher priority, or
of the same priority with an earlier deadline, goes before any other, whoever owns it.
Among the heads of equal priority and deadline, capacity is shared by weight, on two
levels: first between tenants (``SchedulerConfig.tenant_weights``; workflows without a
tenant share one default tenant of weight 1), then between the workflows of a tenant
(``WorkflowSpec.weight``). Within one workflow the order is `PriorityTaskQueue`'s
(critical-path rank, then submission order), so a queue holding one workflow orders
exactly as a `PriorityTaskQueue` does.

How (hierarchical start-time fair queuing). Each workflow (a *flow*) and each tenant has a
virtual time. Taking a task costs its expected run time: its ``estimate_s`` when it has
one, else the pool's moving average of task durations, else 1; the flow's virtual time
grows by cost / workflow weight and its tenant's by cost / tenant weight. Among equal
heads the tenant with the least virtual time goes first, and within it the flow with the
least. A flow (or tenant) that starts waiting again starts at the larger of its own
virtual time and the least virtual time of those waiting (or, when none waits, of the
last to stop waiting): time spent idle banks no credit.

One exception, the *burst* (`FairShare.burst`, ``scheduler.fair_burst_s``): a flow that
starts waiting starts that much work (over its weight) ahead of those waiting, as a
deficit round robin gives a newcomer its quantum. A workflow with less work than that
runs at once, as if alone; a big one beside it loses at most that much per newcomer, and
a flow cannot bank more than one burst however long it idled.

The cost is charged when a task leaves the queue, even if a concurrency limit or a lock
then holds it back (it comes back through `push` when freed).

Performance: with one workflow waiting (the common case) every operation goes straight to
that workflow's `PriorityTaskQueue`, plus two additions per pop. With several, flows are
kept in one heap per tenant and tenants in one heap, re-keyed lazily when their head or
virtual time changed: O(log flows) per pop.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

from orchestrator.core.queue import _REMOVED, ItemT, PriorityTaskQueue


@dataclass(slots=True, eq=False)
class FairShare:
    """Who the items of one flow (one workflow) belong to; one instance per flow.

    Instances compare by identity: two workflows with equal fields are two flows.

    Attributes:
        tenant: The tenant sharing capacity with other tenants (None: the default tenant).
        weight: The flow's share within its tenant, relative to the others' (> 0).
        tenant_weight: The tenant's share, relative to other tenants' (> 0).
        burst: Work (expected seconds) the flow may take ahead of the others each time
            it starts waiting (>= 0; see the module docstring).
    """

    tenant: Hashable = None
    weight: float = 1.0
    tenant_weight: float = 1.0
    burst: float = 0.0


class _Tenant:
    __slots__ = ("active", "floor", "flows", "heap", "key", "version", "vheap", "vtime", "weight")

    def __init__(self, key: Hashable, weight: float, vtime: float) -> None:
        self.key = key
        self.weight = weight
        self.vtime = vtime
        self.floor = 0.0  # least virtual time of its waiting flows (never decreases)
        self.active = 0  # its flows that have items
        self.flows = 0  # its flows kept in the queue's table
        self.version = 0
        self.heap: list[_FlowEntry] = []  # its waiting flows by head (several waiting)
        self.vheap: list[tuple[float, int, _Flow]] = []  # its waiting flows by vtime


class _Flow:
    __slots__ = ("queue", "share", "tenant", "version", "vtime", "weight")

    def __init__(self, share: FairShare, tenant: _Tenant, queue: PriorityTaskQueue[object]):
        self.share = share
        self.tenant = tenant
        self.weight = share.weight
        self.queue = queue
        self.vtime = 0.0
        self.version = 0


# (priority, deadline_s, flow vtime, -rank, order, version, flow)
_FlowEntry = tuple[int, float, float, float, int, int, _Flow]
# (priority, deadline_s, tenant vtime, flow vtime, -rank, order, version, tenant)
_TenantEntry = tuple[int, float, float, float, float, int, int, _Tenant]


class FairTaskQueue(PriorityTaskQueue[ItemT]):
    """A `PriorityTaskQueue` whose ties are shared by weight between flows and tenants.

    See the module docstring for the rule. It has the interface of `PriorityTaskQueue`,
    so it replaces a pool's ready queue without its callers knowing.
    """

    __slots__ = (
        "_cost_of",
        "_dirty",
        "_dirty_tenants",
        "_floor",
        "_flows",
        "_live",
        "_share_of",
        "_size",
        "_solo",
        "_sweep_at",
        "_tenants",
        "_top",
        "_versions",
    )

    def __init__(
        self, share_of: Callable[[ItemT], FairShare], cost_of: Callable[[ItemT], float]
    ) -> None:
        """Start empty.

        Args:
            share_of: The `FairShare` of an item's flow (the same instance for every
                item of a flow).
            cost_of: What taking an item costs its flow (expected seconds of work; > 0).
        """
        super().__init__()
        self._share_of = share_of
        self._cost_of = cost_of
        self._flows: dict[FairShare, _Flow] = {}
        self._tenants: dict[Hashable, _Tenant] = {}
        self._live: dict[_Flow, None] = {}  # flows with items, in the order they came
        self._solo: _Flow | None = None  # the only flow with items, if exactly one
        self._size = 0
        self._floor = 0.0  # least virtual time of the waiting tenants (never decreases)
        self._dirty: set[_Flow] = set()  # flows whose key changed (several waiting)
        self._dirty_tenants: set[_Tenant] = set()
        self._top: list[_TenantEntry] = []
        self._versions = itertools.count(1)
        self._sweep_at = 64  # forget idle flows when the table grows past this

    # --- the interface of PriorityTaskQueue -------------------------------------------

    def push(
        self,
        item: ItemT,
        priority: int,
        deadline_s: float = float("inf"),
        rank: float = 0.0,
    ) -> None:
        """Add ``item`` to its flow, or move it if it is already queued.

        Args:
            item: Any hashable value; each item is queued at most once.
            priority: Lower runs first (see `Priority`).
            deadline_s: Earlier runs first among equal priorities.
            rank: Larger runs first within its flow among equal priority and deadline.
        """
        share = self._share_of(item)
        flow = self._flows.get(share)
        if flow is None:
            flow = self._new_flow(share)
        queue = flow.queue
        # The hot path: `PriorityTaskQueue.push` inlined (its entry layout), no method call.
        entries = queue._entries
        was_empty = not entries
        if item in entries:
            queue.remove(item)
        else:
            self._size += 1
        order = next(queue._counter)
        entry: list[object] = [priority, deadline_s, -rank, order, order, item]
        entries[item] = entry
        heapq.heappush(queue._heap, entry)
        if was_empty:
            self._activate(flow)
        elif self._solo is None:
            self._dirty.add(flow)

    def remove(self, item: ItemT) -> bool:
        """Drop ``item``; return whether it was queued."""
        flow = self._flows.get(self._share_of(item))
        if flow is None or not flow.queue.remove(item):
            return False
        self._size -= 1
        if not flow.queue:
            self._deactivate(flow)
        elif self._solo is None:
            self._dirty.add(flow)
        return True

    def reprioritize(self, item: ItemT, priority: int) -> None:
        """Queue ``item`` at ``priority``, keeping its deadline, rank and place in order.

        Raises:
            KeyError: ``item`` is not queued.
        """
        flow = self._flows.get(self._share_of(item))
        if flow is None:
            raise KeyError(item)
        flow.queue.reprioritize(item, priority)
        if self._solo is None:
            self._dirty.add(flow)

    def reprioritize_many(self, moves: Sequence[tuple[ItemT, int]]) -> None:
        """`reprioritize` each (item, priority) of ``moves``, flow by flow at once.

        Raises:
            KeyError: an item is not queued.
        """
        by_flow: dict[_Flow, list[tuple[ItemT, int]]] = {}
        flows = self._flows
        share_of = self._share_of
        for move in moves:
            flow = flows.get(share_of(move[0]))
            if flow is None:
                raise KeyError(move[0])
            by_flow.setdefault(flow, []).append(move)
        for flow, flow_moves in by_flow.items():
            flow.queue.reprioritize_many(flow_moves)
            if self._solo is None:
                self._dirty.add(flow)

    def levels(self) -> Iterator[tuple[ItemT, int]]:
        """Yield each queued item with the priority it is queued at (no order, lazily)."""
        levels = (flow.queue.levels() for flow in self._live)
        return itertools.chain.from_iterable(levels)  # type: ignore[arg-type]

    def pop(self) -> ItemT:
        """Remove and return the first item. Raises `IndexError` when empty."""
        flow = self._solo
        if flow is None:
            if not self._size:
                raise IndexError("pop from an empty FairTaskQueue")
            flow = self._head_flow()
        queue = flow.queue
        # The hot path: `PriorityTaskQueue.pop` inlined (its entry layout), no method call.
        heap = queue._heap
        item: ItemT = heapq.heappop(heap)[-1]  # type: ignore[assignment]
        while item is _REMOVED:
            item = heapq.heappop(heap)[-1]  # type: ignore[assignment]
        del queue._entries[item]
        self._size -= 1
        cost = self._cost_of(item)
        flow.vtime += cost / flow.weight
        tenant = flow.tenant
        tenant.vtime += cost / tenant.weight
        if not queue._entries:
            self._deactivate(flow)
        elif self._solo is None:
            self._dirty.add(flow)
            vheap = tenant.vheap
            heapq.heappush(vheap, (flow.vtime, next(self._versions), flow))
            if len(vheap) > 4 * tenant.active + 64:
                self._rebuild_vheap(tenant)
        return item

    def peek(self) -> ItemT:
        """Return the first item without removing it. Raises `IndexError` when empty."""
        flow = self._solo
        if flow is None:
            if not self._size:
                raise IndexError("peek at an empty FairTaskQueue")
            flow = self._head_flow()
        return flow.queue.peek()  # type: ignore[return-value]

    def peek_key(self) -> tuple[int, float, float]:
        """Return (priority, deadline_s, -rank) of the first item. Raises `IndexError` if empty."""
        flow = self._solo
        if flow is None:
            if not self._size:
                raise IndexError("peek at an empty FairTaskQueue")
            flow = self._head_flow()
        return flow.queue.peek_key()

    def peek_order_key(self) -> tuple[int, float, float, int]:
        """Return (priority, deadline_s, -rank, order) of the first item (`IndexError`: empty)."""
        flow = self._solo
        if flow is None:
            if not self._size:
                raise IndexError("peek at an empty FairTaskQueue")
            flow = self._head_flow()
        return flow.queue.peek_order_key()

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __contains__(self, item: object) -> bool:
        return any(item in flow.queue for flow in self._live)

    # --- introspection (tests, status) ------------------------------------------------

    def virtual_time(self, share: FairShare) -> float | None:
        """Return the virtual time of ``share``'s flow, or None when the queue forgot it."""
        flow = self._flows.get(share)
        return None if flow is None else flow.vtime

    def flows(self) -> int:
        """Return how many flows the queue keeps (waiting, or idle but remembered)."""
        return len(self._flows)

    def waiting_flows(self) -> int:
        """Return how many flows have items waiting."""
        return len(self._live)

    # --- flows coming and going --------------------------------------------------------

    def _new_flow(self, share: FairShare) -> _Flow:
        tenant = self._tenants.get(share.tenant)
        if tenant is None:
            tenant = _Tenant(share.tenant, share.tenant_weight, self._floor)
            self._tenants[share.tenant] = tenant
        tenant.flows += 1
        flow = _Flow(share, tenant, PriorityTaskQueue(self._counter))
        flow.vtime = tenant.floor - share.burst / share.weight
        self._flows[share] = flow
        if len(self._flows) > self._sweep_at:
            self._forget_idle()
            self._sweep_at = 2 * len(self._flows) + 64
        return flow

    def _activate(self, flow: _Flow) -> None:
        """``flow`` got its first item: it starts at no less than those waiting."""
        tenant = flow.tenant
        if tenant.active == 0:
            tenant.vtime = max(tenant.vtime, self._tenant_floor())
        flow.vtime = max(flow.vtime, self._flow_floor(tenant) - flow.share.burst / flow.weight)
        tenant.active += 1
        live = self._live
        live[flow] = None
        if len(live) == 1:
            self._solo = flow
        elif len(live) == 2:
            self._go_multi()
        else:
            heapq.heappush(tenant.vheap, (flow.vtime, next(self._versions), flow))
            self._dirty.add(flow)

    def _deactivate(self, flow: _Flow) -> None:
        """``flow`` has no item left: remember where it stopped, so idling banks nothing."""
        tenant = flow.tenant
        if tenant.active == 1:
            tenant.floor = max(tenant.floor, flow.vtime)
            if sum(1 for other in self._tenants.values() if other.active) == 1:
                self._floor = max(self._floor, tenant.vtime)
        tenant.active -= 1
        flow.version = next(self._versions)  # its heap entries are stale
        live = self._live
        del live[flow]
        self._dirty.discard(flow)
        if self._solo is None:
            self._dirty_tenants.add(tenant)
        if len(live) == 1:
            self._go_solo(next(iter(live)))
        elif not live:
            self._solo = None
        # It stays in the table (a workflow whose queue empties between waves of its DAG
        # comes back soon); `_forget_idle` drops idle flows when the table grows.

    def _flow_floor(self, tenant: _Tenant) -> float:
        """Return the least virtual time of ``tenant``'s waiting flows (never decreasing)."""
        solo = self._solo
        if solo is not None:
            if solo.tenant is tenant:
                tenant.floor = max(tenant.floor, solo.vtime)
            return tenant.floor
        vheap = tenant.vheap
        while vheap:
            vtime, _, flow = vheap[0]
            if flow.vtime == vtime and flow in self._live:
                tenant.floor = max(tenant.floor, vtime)
                break
            heapq.heappop(vheap)
        return tenant.floor

    def _rebuild_vheap(self, tenant: _Tenant) -> None:
        """Drop the stale entries of ``tenant``'s vtime heap (they pile up as flows advance)."""
        versions = self._versions
        tenant.vheap = [
            (flow.vtime, next(versions), flow) for flow in self._live if flow.tenant is tenant
        ]
        heapq.heapify(tenant.vheap)

    def _tenant_floor(self) -> float:
        """Return the least virtual time of the waiting tenants (tenants are few)."""
        waiting = [tenant.vtime for tenant in self._tenants.values() if tenant.active]
        if waiting:
            self._floor = max(self._floor, min(waiting))
        return self._floor

    def _drop(self, flow: _Flow) -> None:
        del self._flows[flow.share]
        tenant = flow.tenant
        tenant.flows -= 1
        if tenant.flows == 0 and tenant.vtime <= self._floor:
            del self._tenants[tenant.key]

    def _forget_idle(self) -> None:
        """Forget idle flows that would start at their tenant's floor anyway."""
        for tenant in self._tenants.values():
            if tenant.active:
                self._flow_floor(tenant)
        for flow in [flow for flow in self._flows.values() if not flow.queue]:
            if flow.vtime <= flow.tenant.floor:
                self._drop(flow)
        for key, tenant in list(self._tenants.items()):
            if tenant.flows == 0 and not tenant.active and tenant.vtime <= self._floor:
                del self._tenants[key]

    # --- choosing among several flows ---------------------------------------------------

    def _go_multi(self) -> None:
        """A second flow started waiting: build the heaps from the waiting flows."""
        self._solo = None
        for tenant in self._tenants.values():
            tenant.heap.clear()
            tenant.vheap.clear()
        self._top.clear()
        for flow in self._live:
            heapq.heappush(flow.tenant.vheap, (flow.vtime, next(self._versions), flow))
            self._dirty.add(flow)

    def _go_solo(self, flow: _Flow) -> None:
        """One flow is left waiting: it has the queue to itself, no heaps needed."""
        self._solo = flow
        for tenant in self._tenants.values():
            tenant.heap.clear()
            tenant.vheap.clear()
        self._top.clear()
        self._dirty.clear()
        self._dirty_tenants.clear()

    def _head_flow(self) -> _Flow:
        """Return the flow whose head goes first (several waiting), re-keying lazily."""
        versions = self._versions
        dirty_tenants = self._dirty_tenants
        if self._dirty:
            push = heapq.heappush
            for flow in self._dirty:
                flow.version = version = next(versions)
                priority, deadline_s, rank, order = flow.queue.peek_order_key()
                entry = (priority, deadline_s, flow.vtime, rank, order, version, flow)
                push(flow.tenant.heap, entry)
                dirty_tenants.add(flow.tenant)
            self._dirty.clear()
        if dirty_tenants:
            top = self._top
            for tenant in dirty_tenants:
                tenant.version = version = next(versions)
                heap = tenant.heap
                if len(heap) > 4 * tenant.active + 64:  # stale entries piled up
                    heap[:] = [entry for entry in heap if entry[5] == entry[6].version]
                    heapq.heapify(heap)
                while heap and heap[0][5] != heap[0][6].version:
                    heapq.heappop(heap)
                if heap:
                    p, d, flow_vtime, rank, order, _, _ = heap[0]
                    key = (p, d, tenant.vtime, flow_vtime, rank, order, version, tenant)
                    heapq.heappush(top, key)
            dirty_tenants.clear()
        top = self._top
        if len(top) > 4 * len(self._tenants) + 64:
            top[:] = [entry for entry in top if entry[6] == entry[7].version]
            heapq.heapify(top)
        while top[0][6] != top[0][7].version:
            heapq.heappop(top)
        return top[0][7].heap[0][6]
