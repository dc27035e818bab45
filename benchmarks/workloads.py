"""Task bodies the benchmarks run on workers, importable by reference.

They live in a module of their own (not in ``__main__``) so that Ray pickles them by
reference and workers import them, as they would a user's functions.
"""

from __future__ import annotations

import os
import time


def noop() -> None:
    """Do nothing: the dispatch benchmark measures everything but the task."""


def hold(duration_s: float) -> None:
    """Sleep ``duration_s`` seconds (a task that keeps its agent busy)."""
    time.sleep(duration_s)


def started_at(duration_s: float = 0.0) -> float:
    """Return when the handler started (wall clock), after holding ``duration_s``.

    The priority benchmark's backlog and probe alike: in plain Ray, one function is one
    scheduling class, served in arrival order, as same-kind work would be.
    """
    started_s = time.time()
    time.sleep(duration_s)
    return started_s


class NoopActor:
    """A plain actor whose ``noop`` method does nothing (the one-actor contender)."""

    def noop(self) -> None:
        """Do nothing."""

    def ready(self) -> bool:
        """Return True once the actor is up."""
        return True


def crash() -> None:
    """End the agent's process at once (a poison task: a segfault, an ``os._exit``)."""
    import os

    os._exit(3)


def identity(value: int) -> int:
    """Return ``value`` (a task with a small result of its own, to fetch)."""
    return value


def spin(loops: int) -> tuple[float, float, float, int]:
    """Run ``loops`` turns of a pure-Python loop (fixed CPU-bound work); report how it went.

    The work is a number of loop turns, not a time: when the core is shared, the same task
    takes longer. The real-work benchmark calibrates ``loops`` for 1, 10 and 100 ms.

    Returns:
        When the task started (`time.perf_counter`, the same clock in every process of
        the machine), its wall time, the CPU time of the thread that ran it
        (`time.thread_time`), and the id of the process it ran in.
    """
    from agents.simulated import burn

    started_s = time.perf_counter()
    started_cpu_s = time.thread_time()
    burn(loops)
    cpu_s = time.thread_time() - started_cpu_s
    return started_s, time.perf_counter() - started_s, cpu_s, os.getpid()


class SpinActor:
    """A plain actor running `spin` (the members of the Ray actor-pool contender)."""

    def spin(self, loops: int) -> tuple[float, float, float, int]:
        """Run `spin` here and return what it returns."""
        return spin(loops)

    def ready(self) -> bool:
        """Return True once the actor is up."""
        return True
