"""Clocks and resource arithmetic: the small pieces the scheduler stands on."""

from __future__ import annotations

import time

import pytest

from orchestrator.core import FakeClock, NodeCapacity, ResourceSpec
from orchestrator.core.resources import ResourceLedger, ResourceVector, describe_infeasible
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


def test_ledger_reserves_and_releases() -> None:
    ledger = ResourceLedger()
    assert not ledger.known
    assert ledger.can_reserve(ResourceVector(1000))  # capacity unknown: do not block
    ledger.observe(NODES)
    assert ledger.known
    assert ledger.total == ResourceVector(12, 2, 2**31)
    shape = ResourceVector(5, 1, 0)
    assert ledger.can_reserve(shape)
    ledger.reserve(shape)
    ledger.reserve(shape)
    assert ledger.free == ResourceVector(2, 0, 2**31)
    assert not ledger.can_reserve(shape)
    ledger.release(shape)
    assert ledger.can_reserve(shape)
    assert ledger.nodes == NODES
