"""`wait_for_wake`: the supervisor loop's wait for work, without a task per wait."""

from __future__ import annotations

import asyncio


async def wait_for_wake(wake: asyncio.Event, timeout_s: float) -> None:
    """Wait until ``wake`` is set, or ``timeout_s`` has passed (then it is set).

    `asyncio.wait_for` would make a task per wait: one per finished call on the hot path.
    """
    if wake.is_set():
        return
    timer = asyncio.get_running_loop().call_later(timeout_s, wake.set)
    try:
        await wake.wait()
    finally:
        timer.cancel()
