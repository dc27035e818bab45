"""Fixtures over `orchestrator.testing`, the test support the unit tests share.

The helpers reach the tests through fixtures (``spec``, ``clock``, ``driver``,
``make_sim``...) rather than ``from conftest import ...``, which breaks as soon as another
test folder has a conftest of its own. Nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.core import AttemptOutcome, FakeClock
from orchestrator.testing import START_S, Behaviour, Driver, SimRuntime, SpecBuilder, outcome


@pytest.fixture
def spec() -> SpecBuilder:
    """Builders of specs."""
    return SpecBuilder()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at `START_S`."""
    return FakeClock(START_S)


@pytest.fixture
def driver() -> Driver:
    """A hand-driven scheduler with the default configuration."""
    return Driver()


@pytest.fixture
def make_driver() -> Callable[..., Driver]:
    """Factory of hand-driven schedulers: ``make_driver(SchedulerConfig(...))``."""
    return Driver


@pytest.fixture
def make_sim() -> Callable[..., SimRuntime]:
    """Factory of simulated runtimes (see `SimRuntime` for the arguments)."""
    return SimRuntime


@pytest.fixture
def make_outcome() -> Callable[..., AttemptOutcome]:
    """The `outcome` builder."""
    return outcome


@pytest.fixture
def make_behaviour() -> type[Behaviour]:
    """The `Behaviour` class."""
    return Behaviour


__all__ = ["Any"]
