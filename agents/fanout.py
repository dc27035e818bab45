"""A planner that fans work out to a pool of workers over the message bus.

`Planner` splits its task's items into requests to the `Squarer` pool (one replica
answers each, by its ``on_request``), publishes its progress on ``fanout.progress``, and
returns the replies. Used by ``notebooks/bus.ipynb`` and the bus's integration tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from orchestrator.agent import Agent, TaskContext


class SquareRequest(BaseModel):
    """What the planner asks a worker."""

    value: int


class SquareReply(BaseModel):
    """What a worker answers."""

    value: int
    square: int
    worker: str


class Squarer(Agent):
    """A worker: answers `SquareRequest`s; its tasks only warm it up (they return its id)."""

    num_cpus = 0.25
    replicas = 2
    min_replicas = 2

    def __init__(self) -> None:
        self.agent_id = ""

    def handle(self, ctx: TaskContext) -> str:
        """Return this replica's id (a task that makes sure the replica is up)."""
        self.agent_id = ctx.agent_id
        return ctx.agent_id

    def on_request(self, message: Any) -> SquareReply:
        """Answer one request (a `BusMessage` whose payload is a `SquareRequest`)."""
        asked = message.parse(SquareRequest)
        return SquareReply(value=asked.value, square=asked.value**2, worker=self.agent_id)


class Planner(Agent):
    """Asks the `Squarer` pool for the square of each item, one request at a time."""

    num_cpus = 0.25
    replicas = 1

    def handle(self, ctx: TaskContext) -> dict[str, Any]:
        """Fan ``ctx.kwargs["items"]`` out; return the squares and who computed them.

        ``ctx.kwargs`` may also name the ``pool`` asked (default ``Squarer``) and each
        request's ``timeout_s`` (default 30).
        """
        items: list[int] = list(ctx.kwargs["items"])
        timeout_s = float(ctx.kwargs.get("timeout_s", 30.0))
        pool = str(ctx.kwargs.get("pool", "Squarer"))
        squares: list[int] = []
        workers: list[str] = []
        for index, item in enumerate(items):
            reply = ctx.request(SquareRequest(value=item), pool=pool, timeout_s=timeout_s)
            answer = reply.parse(SquareReply)
            squares.append(answer.square)
            workers.append(answer.worker)
            ctx.publish("fanout.progress", {"done": index + 1, "of": len(items)})
        return {"squares": squares, "workers": workers}
