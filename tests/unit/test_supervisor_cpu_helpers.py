"""Small pieces of the supervisor's hot path: its wake-up wait and its debug profiler."""

from __future__ import annotations

import asyncio
import pstats
import time
from pathlib import Path

import pytest

from orchestrator.runtime.loop_wait import wait_for_wake
from orchestrator.runtime.self_profile import PROFILE_ENV, SelfProfiler


def test_the_wait_returns_when_woken_and_leaves_no_timer_behind() -> None:
    async def scenario() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop.call_later(0.01, wake.set)
        started = time.monotonic()
        await wait_for_wake(wake, timeout_s=30.0)
        waited = time.monotonic() - started
        # The 30-s timer was cancelled: nothing else is scheduled on the loop.
        scheduled = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        return waited, len(scheduled)

    waited, scheduled = asyncio.run(scenario())
    assert waited < 5.0
    assert scheduled == 0


def test_the_wait_ends_after_its_timeout_with_the_event_set() -> None:
    async def scenario() -> tuple[float, bool]:
        wake = asyncio.Event()
        started = time.monotonic()
        await wait_for_wake(wake, timeout_s=0.05)
        return time.monotonic() - started, wake.is_set()

    waited, is_set = asyncio.run(scenario())
    assert 0.04 <= waited < 5.0
    assert is_set  # the loop clears it right after, as after any wake-up


def test_the_wait_returns_at_once_when_already_woken() -> None:
    async def scenario() -> float:
        wake = asyncio.Event()
        wake.set()
        started = time.monotonic()
        await wait_for_wake(wake, timeout_s=30.0)
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0


def test_the_profiler_writes_readable_stats_where_its_variable_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "supervisor.prof"
    monkeypatch.setenv(PROFILE_ENV, str(target))
    profiler = SelfProfiler()
    profiler.start()
    sum(i * i for i in range(10_000))
    profiler.stop()
    stats = pstats.Stats(str(target))
    assert stats.total_calls > 0  # type: ignore[attr-defined]


def test_the_profiler_does_nothing_without_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    profiler = SelfProfiler()
    profiler.start()
    profiler.stop()
    assert list(tmp_path.iterdir()) == []
