"""`FairTaskQueue`: workflows and tenants share a pool by weight; priority and EDF first."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.core.fair_queue import FairShare, FairTaskQueue
from orchestrator.core.queue import PriorityTaskQueue

# Items are (flow name, number); each flow name maps to one FairShare.
Item = tuple[str, int]


def _queue(
    shares: dict[str, FairShare], cost: Callable[[Item], float] = lambda item: 1.0
) -> FairTaskQueue[Item]:
    return FairTaskQueue(lambda item: shares[item[0]], cost)


def _fill(queue: FairTaskQueue[Item], flow: str, count: int, priority: int = 2) -> None:
    for number in range(count):
        queue.push((flow, number), priority)


def _drain(queue: FairTaskQueue[Item], count: int | None = None) -> list[Item]:
    out: list[Item] = []
    while queue and (count is None or len(out) < count):
        out.append(queue.pop())
    return out


def _flows(items: list[Item]) -> str:
    return "".join(flow for flow, _ in items)


@pytest.mark.parametrize(
    ("weights", "popped", "expected"),
    [
        # equal weights alternate, starting with the flow that came first
        ({"a": 1.0, "b": 1.0}, 6, "ababab"),
        # 3:1 weights give 3:1 dispatches
        ({"a": 3.0, "b": 1.0}, 10, "abaaabaaab"),
        ({"a": 1.0, "b": 2.0, "c": 1.0}, 8, "abcbabcb"),
    ],
)
def test_backlogged_flows_share_by_weight(
    weights: dict[str, float], popped: int, expected: str
) -> None:
    shares = {name: FairShare(weight=weight) for name, weight in weights.items()}
    queue = _queue(shares)
    for name in weights:
        _fill(queue, name, 1000)
    order = _drain(queue, popped)
    assert _flows(order) == expected
    counts = Counter(_flows(_drain(queue, 400)))
    total = sum(weights.values())
    for name, weight in weights.items():  # over a long run, exactly by weight
        assert counts[name] == pytest.approx(400 * weight / total, abs=2)


def test_a_late_small_flow_gets_its_share_at_once() -> None:
    shares = {"b": FairShare(), "s": FairShare()}
    queue = _queue(shares)
    _fill(queue, "b", 10_000)
    _drain(queue, 5_000)  # the big flow ran alone for a while
    _fill(queue, "s", 10)
    # s starts at b's virtual time: it alternates with b at once, no burst, no wait
    assert _flows(_drain(queue, 20)) == "bs" * 10
    assert all(item[0] == "b" for item, _ in queue.queued())


def test_an_idle_flow_banks_no_credit() -> None:
    shares = {"a": FairShare(), "b": FairShare()}
    queue = _queue(shares)
    _fill(queue, "a", 2)
    _drain(queue)  # a ran 2, then went idle
    _fill(queue, "b", 1000)
    _drain(queue, 500)  # b ran alone for 500
    _fill(queue, "a", 100)
    # a comes back: no burst of 498 catching up, it alternates with b at once
    assert _flows(_drain(queue, 10)) == "ba" * 5


def test_work_at_any_priority_counts_against_a_flow_while_others_wait() -> None:
    shares = {"a": FairShare(), "b": FairShare()}
    queue = _queue(shares)
    _fill(queue, "b", 100, priority=2)
    _fill(queue, "a", 5, priority=1)
    assert _flows(_drain(queue, 5)) == "aaaaa"  # priority first
    # a is idle but remembered 5 ahead of b, which waited meanwhile: b catches up first
    _fill(queue, "a", 5, priority=2)
    assert _flows(_drain(queue, 9)) == "bbbbbbaba"


@pytest.mark.parametrize(
    ("tenant_weights", "flows", "expected_share"),
    [
        # tenant x has three workflows, y one: each tenant still gets half
        ({"x": 1.0, "y": 1.0}, {"x1": "x", "x2": "x", "x3": "x", "y1": "y"}, {"x": 0.5}),
        # tenant weights 3:1
        ({"x": 3.0, "y": 1.0}, {"x1": "x", "x2": "x", "y1": "y"}, {"x": 0.75}),
    ],
)
def test_tenants_share_by_their_weight_whatever_their_workflows(
    tenant_weights: dict[str, float], flows: dict[str, str], expected_share: dict[str, float]
) -> None:
    shares = {
        name: FairShare(tenant=tenant, tenant_weight=tenant_weights[tenant])
        for name, tenant in flows.items()
    }
    queue = _queue(shares)
    for name in flows:
        _fill(queue, name, 1000)
    popped = _drain(queue, 400)
    by_tenant = Counter(flows[flow] for flow, _ in popped)
    for tenant, share in expected_share.items():
        assert by_tenant[tenant] == pytest.approx(400 * share, abs=2)
    # within tenant x, its workflows share equally
    by_flow = Counter(flow for flow, _ in popped if flows[flow] == "x")
    assert max(by_flow.values()) - min(by_flow.values()) <= 1


def test_priority_wins_across_flows_and_deadline_within_a_level() -> None:
    shares = {"a": FairShare(weight=100.0), "b": FairShare()}
    queue = _queue(shares)
    queue.push(("a", 1), 2)
    queue.push(("a", 2), 2, deadline_s=50.0)
    queue.push(("b", 1), 2, deadline_s=10.0)
    queue.push(("b", 2), 1)
    assert _drain(queue) == [("b", 2), ("b", 1), ("a", 2), ("a", 1)]


def test_within_a_flow_rank_then_submission_order() -> None:
    queue = _queue({"a": FairShare(), "b": FairShare()})
    queue.push(("a", 1), 2, rank=0.1)
    queue.push(("a", 2), 2, rank=0.9)
    queue.push(("b", 1), 2)
    assert _drain(queue) == [("a", 2), ("b", 1), ("a", 1)]


def test_cost_is_the_estimate_so_long_tasks_count_for_more() -> None:
    # a's tasks cost 4, b's 1: b gets 4 tasks per task of a
    queue = _queue(
        {"a": FairShare(), "b": FairShare()}, cost=lambda item: 4.0 if item[0] == "a" else 1.0
    )
    _fill(queue, "a", 100)
    _fill(queue, "b", 100)
    assert Counter(_flows(_drain(queue, 50)))["a"] == pytest.approx(10, abs=1)


def test_remove_reprioritize_contains_and_errors() -> None:
    shares = {"a": FairShare(), "b": FairShare()}
    queue = _queue(shares)
    _fill(queue, "a", 3)
    _fill(queue, "b", 3)
    assert len(queue) == 6 and ("a", 1) in queue and ("c", 1) not in queue
    assert queue.remove(("a", 0)) and not queue.remove(("a", 0))
    queue.reprioritize(("b", 2), 0)
    assert queue.peek() == ("b", 2) and queue.peek_key() == (0, math.inf, -0.0)
    expected = [(("a", 1), 2), (("a", 2), 2), (("b", 0), 2), (("b", 1), 2), (("b", 2), 0)]
    assert sorted(queue.queued()) == expected
    with pytest.raises(KeyError):
        queue.reprioritize(("a", 0), 1)
    with pytest.raises(KeyError):
        _queue({"z": FairShare(), **shares}).reprioritize(("z", 0), 1)
    assert len(_drain(queue)) == 5 and not queue
    for method in (queue.pop, queue.peek, queue.peek_key, queue.peek_order_key):
        with pytest.raises(IndexError):
            method()


def test_forgets_idle_flows_so_memory_stays_bounded() -> None:
    shares: dict[str, FairShare] = {}
    queue: FairTaskQueue[Item] = FairTaskQueue(lambda item: shares[item[0]], lambda item: 1.0)
    _fill_share = shares.setdefault
    for number in range(5_000):  # one short workflow after another, a long one throughout
        _fill_share("long", FairShare())
        queue.push(("long", number), 2)
        name = f"w{number}"
        _fill_share(name, FairShare())
        queue.push((name, 0), 2)
        queue.pop()
        queue.pop()
    assert queue.flows() < 200


# --- properties -------------------------------------------------------------------------

_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("push"),
            st.integers(0, 30),
            st.integers(0, 4),
            st.sampled_from([math.inf, 5.0, 9.0]),
            st.sampled_from([0.0, 0.5, 1.0]),
        ),
        st.tuples(st.just("pop")),
        st.tuples(st.just("remove"), st.integers(0, 30)),
        st.tuples(st.just("reprioritize"), st.integers(0, 30), st.integers(0, 4)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_one_flow_orders_exactly_as_priority_task_queue(ops: list[tuple[object, ...]]) -> None:
    share = FairShare()
    fair: FairTaskQueue[int] = FairTaskQueue(lambda item: share, lambda item: 1.0)
    plain: PriorityTaskQueue[int] = PriorityTaskQueue()
    for op in ops:
        match op:
            case ("push", int(item), int(priority), float(deadline_s), float(rank)):
                fair.push(item, priority, deadline_s, rank)
                plain.push(item, priority, deadline_s, rank)
            case ("pop",):
                if plain:
                    assert fair.peek_key() == plain.peek_key()
                    assert fair.pop() == plain.pop()
            case ("remove", int(item)):
                assert fair.remove(item) == plain.remove(item)
            case ("reprioritize", int(item), int(priority)) if item in plain:
                fair.reprioritize(item, priority)
                plain.reprioritize(item, priority)
        assert len(fair) == len(plain) and sorted(fair.queued()) == sorted(plain.queued())
    assert [fair.pop() for _ in range(len(fair))] == [plain.pop() for _ in range(len(plain))]


_FLOW_NAMES = ["a", "b", "c", "d"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_FLOW_NAMES), st.integers(0, 3), st.sampled_from([math.inf, 7.0])
        ),
        max_size=150,
    ),
    st.lists(st.booleans(), max_size=150),
    st.dictionaries(st.sampled_from(_FLOW_NAMES), st.sampled_from([0.5, 1.0, 3.0])),
    st.dictionaries(st.sampled_from(_FLOW_NAMES), st.sampled_from(["t1", "t2", None])),
)
def test_many_flows_never_break_priority_or_edf_and_lose_nothing(
    pushes: list[tuple[str, int, float]],
    pops: list[bool],
    weights: dict[str, float],
    tenants: dict[str, Hashable],
) -> None:
    shares = {
        name: FairShare(tenant=tenants.get(name), weight=weights.get(name, 1.0))
        for name in _FLOW_NAMES
    }
    queue = _queue(shares)
    keys: dict[Item, tuple[int, float]] = {}
    popped: list[Item] = []

    def pop_and_check() -> None:
        best = min(keys.values())
        item = queue.pop()
        assert keys.pop(item) == best  # the highest priority, then the earliest deadline
        popped.append(item)

    for number, (flow, priority, deadline_s) in enumerate(pushes):
        queue.push((flow, number), priority, deadline_s)
        keys[(flow, number)] = (priority, deadline_s)
        if number < len(pops) and pops[number]:
            pop_and_check()
        assert len(queue) == len(keys)
    while keys:
        pop_and_check()
    assert not queue and sorted(popped) == sorted((f, n) for n, (f, _, _) in enumerate(pushes))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=2, max_size=4),
    st.integers(1, 300),
)
def test_backlogged_flows_stay_within_one_task_of_their_weighted_share(
    weights: list[float], popped: int
) -> None:
    # The start-time fair queuing bound, unit costs: |n_i/w_i - n_j/w_j| <= 1/w_i + 1/w_j
    shares = {str(index): FairShare(weight=weight) for index, weight in enumerate(weights)}
    queue = _queue(shares)
    for name in shares:
        _fill(queue, name, 400)
    counts = Counter(_flows(_drain(queue, popped)))
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            gap = abs(counts[str(i)] / wi - counts[str(j)] / wj)
            assert gap <= 1 / wi + 1 / wj + 1e-9


def test_waiting_flows_counts_only_flows_with_items_waiting() -> None:
    shares = {"a": FairShare(), "b": FairShare()}
    queue = _queue(shares)
    assert queue.waiting_flows() == 0
    _fill(queue, "a", 2)
    _fill(queue, "b", 1)
    assert queue.waiting_flows() == 2
    _drain(queue, 2)  # a's first and b's only item: b is idle, perhaps remembered
    assert queue.waiting_flows() == 1
    _drain(queue)
    assert queue.waiting_flows() == 0


def test_count_by_priority_sums_every_flow() -> None:
    queue = _queue({"a": FairShare(), "b": FairShare()})
    _fill(queue, "a", 3, priority=2)
    _fill(queue, "b", 2, priority=4)
    queue.reprioritize(("b", 0), 1)
    _drain(queue, 1)
    counts = queue.count_by_priority()
    assert sum(counts.values()) == len(queue) == 4
    assert counts == Counter(priority for _, priority in queue.queued())


@pytest.mark.parametrize("count", [3, 120])  # a push each, or a rebuild per flow
def test_reprioritize_many_orders_as_one_by_one(count: int) -> None:
    queues = [_queue({"a": FairShare(), "b": FairShare(weight=2)}) for _ in range(2)]
    for queue in queues:
        _fill(queue, "a", 150, priority=3)
        _fill(queue, "b", 150, priority=4)
    moves = [(("a" if n % 2 else "b", n), n % 3) for n in range(count)]
    for item, priority in moves:
        queues[0].reprioritize(item, priority)
    queues[1].reprioritize_many(moves)
    assert _drain(queues[1]) == _drain(queues[0])
    with pytest.raises(KeyError):
        queues[1].reprioritize_many([(("c", 0), 1)])
