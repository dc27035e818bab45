"""Clocks and resource arithmetic: the small pieces the scheduler stands on."""

from __future__ import annotations

import time

import pytest

from orchestrator.core import FakeClock, NodeCapacity, ResourceSpec
from orchestrator.core.placement import ResourceLedger
from orchestrator.core.resources import ResourceVector, describe_infeasible
from orchestrator.runtime.clock import WallClock


def test_fake_clock_moves_only_forward_when_told() -> None:
    clock = FakeClock(10.0)
    assert clock.now_s() == 10.0
    clock.advance(2.5)
    clock.set(20.0)
    assert clock.now_s() == 20.0
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(19.0)
    assert clock.now_s() == 20.0


def test_wall_clock_reads_the_time() -> None:
    before = time.time()
    assert before <= WallClock().now_s() <= time.time()


def test_vectors_add_subtract_and_fit() -> None:
    a = ResourceVector(1.0, 0.5, 100.0)
    b = ResourceVector(0.5, 0.5, 50.0)
    assert a + b == ResourceVector(1.5, 1.0, 150.0)
    assert a - b == ResourceVector(0.5, 0.0, 50.0)
    assert b.fits_in(a)
    assert not a.fits_in(b)
    # Float noise does not make a shape that fits exactly look too large
    assert ResourceVector(0.1 + 0.2).fits_in(ResourceVector(0.3))
    assert a.shortfalls(b) == [("num_cpus", 1.0, 0.5), ("memory_bytes", 100.0, 50.0)]
    assert ResourceSpec(num_cpus=2, num_gpus=1, memory_bytes=7).as_vector() == ResourceVector(
        2.0, 1.0, 7.0
    )


NODES = (
    NodeCapacity(node_id="cpu", num_cpus=8, memory_bytes=2**30),
    NodeCapacity(node_id="gpu", num_cpus=4, num_gpus=2, memory_bytes=2**30),
)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (ResourceVector(8, 0, 0), None),
        (ResourceVector(4, 2, 2**30), None),
        (ResourceVector(9, 0, 0), "needs 9 CPU but the largest node has 8"),
        (ResourceVector(1, 3, 0), "needs 3 GPU but the largest node has 2"),
        (ResourceVector(1, 0, 2**31), "needs 2.14748e+09 memory (bytes) but the largest"),
        (ResourceVector(5, 1, 0), "no single node has all of the requested resources at once"),
    ],
)
def test_describe_infeasible(shape: ResourceVector, expected: str | None) -> None:
    reason = describe_infeasible(shape, NODES)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_describe_infeasible_without_nodes() -> None:
    assert describe_infeasible(ResourceVector(1), []) == "the cluster reports no nodes"


def test_ledger_places_by_node_and_releases() -> None:
    ledger = ResourceLedger()
    assert not ledger.known
    assert ledger.can_place(ResourceVector(1000))  # capacity unknown: do not block
    ledger.observe(NODES)
    assert ledger.known
    assert ledger.total == ResourceVector(12, 2, 2**31)
    # 5 CPUs fit the cpu node only; then 7 CPUs are free in sum, but no node has 5
    five = ResourceVector(5)
    assert ledger.place("a", five) == "cpu"
    assert ledger.free_on("cpu") == ResourceVector(3, 0, 2**30)
    assert not ledger.can_place(five)
    with pytest.raises(ValueError, match="no node has room for 'b'"):
        ledger.place("b", five)
    # CPU work goes where it fits best, but not on the GPU node while another fits
    assert ledger.place("c", ResourceVector(3)) == "cpu"
    assert ledger.place("d", ResourceVector(1)) == "gpu"  # the cpu node is full
    assert ledger.place("e", ResourceVector(1, 1)) == "gpu"
    ledger.release("a")
    assert ledger.can_place(five)
    assert ledger.node_of("a") is None and ledger.node_of("c") == "cpu"
    assert ledger.nodes == NODES


def test_ledger_places_agents_started_before_the_first_observation() -> None:
    ledger = ResourceLedger()
    assert ledger.place("early", ResourceVector(6)) is None  # Ray placed it
    ledger.observe(NODES)
    assert ledger.node_of("early") == "cpu"
    assert ledger.free_on("cpu") == ResourceVector(2, 0, 2**30)


def test_a_lost_node_holds_nothing_and_shapes_become_infeasible() -> None:
    ledger = ResourceLedger()
    ledger.observe(NODES)
    ledger.place("g", ResourceVector(1, 2))
    ledger.observe(NODES[:1])  # the gpu node is gone, and with it agent g (not re-placed)
    assert ledger.node_of("g") == "gpu"
    assert ledger.infeasible(ResourceVector(1, 1)) == "needs 1 GPU but the largest node has 0"
    assert ledger.infeasible(ResourceVector(8)) is None
    ledger.release("g")  # its loss is reported later: nothing to give back
    assert ledger.free_on("cpu") == ResourceVector(8, 0, 2**30)
