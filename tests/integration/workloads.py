"""Agents and functions the integration tests run (importable by Ray workers)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from orchestrator import Agent, NonRetryableError, TaskContext


def add(a: int, b: int) -> int:
    return a + b


def total(*values: int) -> int:
    return sum(values)


def fail(message: str) -> None:
    raise ValueError(message)


def fail_permanently(message: str) -> None:
    raise NonRetryableError(message)


def payload(size_bytes: int) -> bytes:
    return b"x" * size_bytes


def length(data: bytes) -> int:
    return len(data)


def sleep_then(seconds: float, value: Any = None) -> Any:
    time.sleep(seconds)
    return value


def record(ledger: str, entry: dict[str, Any]) -> None:
    """Append one JSON line to a ledger file (the oracle of fault tests)."""
    with Path(ledger).open("a", encoding="utf-8") as file:
        file.write(json.dumps({**entry, "pid": os.getpid(), "time_s": time.time()}) + "\n")


def read_ledger(ledger: str | Path) -> list[dict[str, Any]]:
    path = Path(ledger)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ledgered_sleep(ledger: str, task: str, seconds: float) -> str:
    record(ledger, {"task": task, "event": "start"})
    time.sleep(seconds)
    record(ledger, {"task": task, "event": "finish"})
    return f"{task} done"


class Doubler(Agent):
    num_cpus = 0.25
    replicas = 2

    def handle(self, ctx: TaskContext) -> int:
        value: int = ctx.input()
        return value * 2


class OrderRecorder(Agent):
    """One replica that runs tasks one at a time and writes their order to a ledger."""

    num_cpus = 0.25
    replicas = 1

    def handle(self, ctx: TaskContext) -> str:
        record(ctx.kwargs["ledger"], {"task": ctx.task_id, "event": "start"})
        time.sleep(ctx.kwargs.get("seconds", 0.2))
        return ctx.task_id


class HangsOnFirstAttempt(Agent):
    """Holds the GIL in C code on the first attempt (so pings go unanswered), then works."""

    num_cpus = 0.25
    replicas = 1

    def handle(self, ctx: TaskContext) -> str:
        record(ctx.kwargs["ledger"], {"task": ctx.task_id, "attempt": ctx.attempt})
        if ctx.attempt == 1:
            # Catastrophic backtracking: the regex engine never releases the GIL.
            re.match(r"(a+)+$", "a" * 64 + "b")
        return f"finished on attempt {ctx.attempt}"


class NeedsManyGpus(Agent):
    num_cpus = 0.25
    num_gpus = 64
    replicas = 1

    def handle(self, ctx: TaskContext) -> str:
        return "unreachable: no node has 64 GPUs"


class BrokenSetup(Agent):
    num_cpus = 0.25
    replicas = 1

    def setup(self) -> None:
        raise RuntimeError("cannot load the model")

    def handle(self, ctx: TaskContext) -> None:
        return None


class KeptWarm(Agent):
    """One replica kept alive while idle (min_replicas)."""

    num_cpus = 0.25
    replicas = 1
    min_replicas = 1

    def handle(self, ctx: TaskContext) -> int:
        value: int = ctx.args[0]
        return value


def crash(ledger: str, task: str) -> None:
    """Kill the agent's process, as a segfault or ``os._exit`` in a library would."""
    record(ledger, {"task": task, "event": "start"})
    os._exit(3)


def ledgered(ledger: str, task: str, value: Any = None) -> Any:
    """Record a start, then return ``value``."""
    record(ledger, {"task": task, "event": "start"})
    return value


def ledgered_sleep_then(ledger: str, task: str, seconds: float, value: Any) -> Any:
    """Record a start, sleep, then return ``value`` (a slow link of a chain)."""
    record(ledger, {"task": task, "event": "start"})
    time.sleep(seconds)
    return value


def ledgered_payload(ledger: str, task: str, size_bytes: int) -> bytes:
    record(ledger, {"task": task, "event": "start"})
    return b"x" * size_bytes


def ledgered_fail(ledger: str, task: str) -> None:
    record(ledger, {"task": task, "event": "start"})
    raise ValueError(f"{task} is wrong every time")


def flaky_once(ledger: str, task: str) -> str:
    """Fail on the first run that reaches its end, succeed afterwards (the ledger knows)."""
    runs = [e for e in read_ledger(ledger) if e.get("task") == task]
    record(ledger, {"task": task, "event": "start"})
    if not runs:
        raise ConnectionError(f"{task}: transient failure")
    return f"{task} ok"


def falls_silent_once(ledger: str, seconds: float) -> Any:
    """Report progress, then hang on the first attempt; a retry returns what it resumed from."""
    from orchestrator import current_task

    ctx = current_task()
    record(ledger, {"task": ctx.task_id, "attempt": ctx.attempt, "resumed": ctx.last_heartbeat})
    if ctx.attempt == 1:
        ctx.heartbeat({"page": 7})
        time.sleep(seconds)  # silent from here on: taken for hung
        return "never"
    return {"resumed_from": ctx.last_heartbeat}


def slow_but_talking(ledger: str, steps: int, step_s: float) -> int:
    """Run longer than the heartbeat timeout, reporting progress at every step."""
    from orchestrator import current_task

    ctx = current_task()
    record(ledger, {"task": ctx.task_id, "attempt": ctx.attempt})
    for step in range(steps):
        ctx.heartbeat({"step": step})
        time.sleep(step_s)
    return steps


def fails_until(flag: str, value: Any) -> Any:
    """Fail until the file ``flag`` exists (an outage fixed by an operator), then return."""
    if not Path(flag).exists():
        raise ConnectionError(f"service down: {flag} is missing")
    return value


def ledgered_on_node(ledger: str, index: int, seconds: float) -> int:
    """Record start and end with the node that ran it, sleeping ``seconds`` in between."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    record(ledger, {"task": index, "event": "start", "node": node})
    time.sleep(seconds)
    record(ledger, {"task": index, "event": "end", "node": node})
    return index


def undo(ledger: str, result: Any) -> str:
    """A compensation: record what it undoes (the result of the task it compensates)."""
    record(ledger, {"undo": result})
    return f"undid {result}"


def traced_work(n: int) -> int:
    """Make a span of its own with OpenTelemetry's API, as a user's handler would."""
    from opentelemetry import trace

    with trace.get_tracer("user-code").start_as_current_span("inner work") as span:
        span.set_attribute("n", n)
        return n * 2


def noop() -> None:
    """Do nothing."""


def started_at(seconds: float) -> float:
    """Return when the handler started (wall clock), after sleeping ``seconds``."""
    started_s = time.time()
    time.sleep(seconds)
    return started_s


def _refuse_to_load() -> None:
    raise RuntimeError("this value cannot be loaded")


class LoadsBadly:
    """Pickles fine; unpickling it raises (a chunk of rows the supervisor cannot fetch)."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (_refuse_to_load, ())
