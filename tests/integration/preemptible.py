"""Handlers for the preemption tests (importable by agents: they run in other processes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from orchestrator import Agent, TaskContext, current_task


def patient(marker_dir: str, steps: int = 300, step_s: float = 0.01) -> int:
    """Work in small steps, stopping when asked; return the attempt that finished."""
    ctx = current_task()
    Path(marker_dir, f"{ctx.task_id}-{ctx.attempt}.started").touch()
    for _ in range(steps):
        ctx.stop_if_requested()
        time.sleep(step_s)
    return ctx.attempt


def started_at() -> float:
    """Return when the handler started."""
    return time.time()


class Stubborn(Agent):
    """An agent without an urgent lane whose work never looks at ``ctx.should_stop``."""

    num_cpus = 1.0
    replicas = 1

    def handle(self, ctx: TaskContext) -> Any:
        """Sleep ``args[1]`` seconds (its agent id in a file of ``args[0]`` first)."""
        marker_dir, seconds = ctx.args
        Path(marker_dir, f"{ctx.task_id}-{ctx.attempt}.started").write_text(ctx.agent_id)
        time.sleep(seconds)
        return ctx.agent_id


def hold(seconds: float) -> None:
    """Sleep ``seconds`` (BACKGROUND filler work that ignores stop requests)."""
    time.sleep(seconds)
