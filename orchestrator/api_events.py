"""`EventCalls`: the bus and lifecycle events for drivers and notebooks (a mixin).

::

    for event in orch.events(workflow_id=run.id, kinds=["task", "workflow"]):
        print(event.kind, event.event, event.task_id)   # ends when the workflow ends

    listener = orch.on_event(print, kinds=["agent"])    # a callback, in a thread
    ...
    listener.stop()

``orch.bus`` is the driver's own client of the bus: publish, subscribe, request/reply.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from orchestrator.core.states import WorkflowState
from orchestrator.runtime.bus import Bus, BusMessage, Overflow, Subscription
from orchestrator.runtime.bus.lifecycle import LifecycleEvent, event_patterns, expand
from orchestrator.runtime.bus.wiring import open_bus, stop_bus_actor
from orchestrator.runtime.client import SupervisorClient
from orchestrator.settings import Settings

_TERMINAL = frozenset(s.value for s in WorkflowState if s.is_terminal)


class EventStream:
    """Lifecycle events as they happen: iterate (``for``/``async for``) or `get` them.

    With ``until_finished``, iteration ends after the workflow's own end event.

    Args:
        subscription: The bus subscription carrying the events.
        workflow_id: The workflow followed, or None.
        until_finished: End iteration when that workflow ends.
        owned_bus: A bus client made for this stream alone: closed with it.
    """

    def __init__(
        self,
        subscription: Subscription,
        workflow_id: str | None,
        until_finished: bool,
        owned_bus: Bus | None = None,
    ) -> None:
        self.subscription = subscription
        self._owned_bus = owned_bus
        self.workflow_id = workflow_id
        self._until_finished = until_finished and workflow_id is not None
        #: Whether the followed workflow's end event has been seen.
        self.finished = False

    def _decode(self, message: BusMessage) -> list[LifecycleEvent]:
        events = expand(message.payload)
        for event in events:
            if (
                event.kind == "workflow"
                and event.event in _TERMINAL
                and event.workflow_id == self.workflow_id
            ):
                self.finished = True
        return events

    def get_batch(self, max_n: int = 1000, timeout_s: float | None = None) -> list[LifecycleEvent]:
        """Return the events of up to ``max_n`` messages; wait at most ``timeout_s``."""
        messages = self.subscription.get_batch(max_n, timeout_s)
        return [event for message in messages for event in self._decode(message)]

    def __iter__(self) -> Iterator[LifecycleEvent]:
        """Yield events (until the workflow ends, with ``until_finished``)."""
        for message in self.subscription:
            yield from self._decode(message)
            if self._until_finished and self.finished:
                return

    async def __aiter__(self) -> AsyncIterator[LifecycleEvent]:
        """Yield events without blocking the event loop (a notebook, an async driver)."""
        async for message in self.subscription:
            for event in self._decode(message):
                yield event
            if self._until_finished and self.finished:
                return

    def close(self) -> None:
        """Stop receiving events."""
        try:
            self.subscription.unsubscribe()
        finally:
            if self._owned_bus is not None:
                self._owned_bus.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventListener:
    """Calls a callback with each event, in a background thread, until `stop`.

    An exception in the callback is kept in `errors` (and does not stop the listener).
    """

    def __init__(self, stream: EventStream, callback: Callable[[LifecycleEvent], Any]) -> None:
        self.stream = stream
        self.errors: list[BaseException] = []
        self._callback = callback
        self._thread = threading.Thread(target=self._loop, daemon=True, name="bus-listener")
        self._thread.start()

    def _loop(self) -> None:
        for event in self.stream:
            try:
                self._callback(event)
            except Exception as exc:
                self.errors.append(exc)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening (waits up to ``timeout_s`` for the thread)."""
        self.stream.close()
        self._thread.join(timeout_s)


def open_events(
    bus: Bus,
    *,
    workflow_id: str | None = None,
    kinds: Iterable[str] | None = None,
    capacity: int = 10_000,
    overflow: Overflow | str = Overflow.DROP_OLDEST,
    until_finished: bool = True,
    owned: bool = False,
) -> EventStream:
    """Subscribe ``bus`` to lifecycle events (see `EventCalls.events`).

    With ``owned``, the stream closes ``bus`` when it is closed.
    """
    where = {"workflow_id": workflow_id} if workflow_id is not None else None
    subscription = bus.subscribe(
        event_patterns(kinds), capacity=capacity, overflow=overflow, where=where
    )
    return EventStream(subscription, workflow_id, until_finished, bus if owned else None)


def run_events(client: SupervisorClient, workflow_id: str) -> EventStream:
    """Open an event stream of one workflow for a `WorkflowRun` (its progress bar)."""
    bus = open_bus(client.settings(), f"run-{uuid.uuid4().hex[:12]}")
    try:
        return open_events(bus, workflow_id=workflow_id, owned=True)
    except BaseException:
        bus.close()
        raise


class EventCalls:
    """Lifecycle events and the bus over the orchestrator's supervisor."""

    settings: Settings
    _bus_client: Bus | None = None

    @property
    def client(self) -> SupervisorClient:
        """The supervisor's client (the `Orchestrator` provides it)."""
        raise NotImplementedError

    @property
    def bus(self) -> Bus:
        """This driver's client of the orchestrator's bus (made on first use)."""
        if self._bus_client is None:
            self.client  # noqa: B018 (started: Ray connected, the bus actor made)
            self._bus_client = open_bus(self.settings, f"driver-{uuid.uuid4().hex[:12]}")
        return self._bus_client

    def events(
        self,
        workflow_id: str | None = None,
        kinds: Iterable[str] | None = None,
        *,
        capacity: int | None = None,
        overflow: Overflow | str = Overflow.DROP_OLDEST,
        until_finished: bool = True,
    ) -> EventStream:
        """Subscribe to lifecycle events (`LifecycleEvent`), from now on.

        Args:
            workflow_id: Only this workflow's events (task, workflow, deadline).
            kinds: Only these kinds (``task``, ``workflow``, ``agent``, ``heartbeat``,
                ``checkpoint``, ``deadline``, ``breaker``, ``schedule``); default all.
            capacity: The stream's buffer (default ``settings.bus.events_capacity``).
            overflow: What a full buffer does; by default the oldest events are dropped
                (counted in ``orch.bus.statistics()``), so a slow reader never slows
                the orchestrator.
            until_finished: With ``workflow_id``: iteration ends when it ends.

        Raises:
            ValueError: an unknown kind or a bad capacity (named).
        """
        return open_events(
            self.bus,
            workflow_id=workflow_id,
            kinds=kinds,
            capacity=capacity or self.settings.bus.events_capacity,
            overflow=overflow,
            until_finished=until_finished,
        )

    def on_event(
        self,
        callback: Callable[[LifecycleEvent], Any],
        *,
        workflow_id: str | None = None,
        kinds: Iterable[str] | None = None,
    ) -> EventListener:
        """Call ``callback`` with each lifecycle event in a background thread.

        The callback form of `events` (same filters); `EventListener.stop` ends it.
        """
        stream = self.events(workflow_id, kinds, until_finished=False)
        return EventListener(stream, callback)

    def _close_bus(self, stop_actor: bool) -> None:
        """Close this driver's bus client; with ``stop_actor``, end the bus actor too."""
        bus, self._bus_client = self._bus_client, None
        try:
            if bus is not None:
                bus.close()
        finally:
            if stop_actor:
                stop_bus_actor(self.settings)
