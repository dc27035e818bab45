"""`SupervisorTriggers`: event-triggered workflows fed by the bus (a mixin of `Supervisor`).

``orch.publish(topic, payload)`` publishes on ``triggers.<topic>``; the supervisor reads
them from one subscription of its own, ``supervisor.triggers``, kept by the bus actor
(which outlives a supervisor that crashes): a message published while the supervisor
is down waits there, and the supervisor that comes back takes its subscription up again.

Each batch is read without being taken (`BusActor.peek`), handled (the runs it starts
are submitted), saved in a checkpoint, and only then acknowledged: a supervisor that
dies before the acknowledgement handles the batch again when it is back (at least once;
a crash between the save and the acknowledgement can start a run twice). The reply to
the publisher names the runs started.

A trigger message carries its publisher's principal (`trigger_envelope`); the door
(`GuardedSupervisor._trigger_denied`) checks and audits it as it does a direct call. A
message without one (published on ``triggers.*`` by other means) counts as
``anonymous``. A refused message starts nothing; its reply says why (``{"denied": ...}``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from structlog.typing import FilteringBoundLogger

from orchestrator.core.commands import Command, SubmitScheduledRun
from orchestrator.core.events import MessagePublished
from orchestrator.core.scheduler import Scheduler
from orchestrator.runtime.bus.lifecycle import LifecyclePublisher
from orchestrator.runtime.bus.messages import BusMessage, Overflow

#: The supervisor's subscription to triggers on the bus.
TRIGGERS_SUBSCRIPTION = "supervisor.triggers"
#: Where trigger messages are published: ``triggers.<topic>``.
TRIGGERS_PREFIX = "triggers."
#: Trigger messages the bus holds for the supervisor (it waits, publishers wait).
TRIGGERS_CAPACITY = 10_000
#: Messages handled per checkpoint.
TRIGGERS_BATCH = 100


def trigger_topic(topic: str) -> str:
    """Return the bus topic on which messages for trigger ``topic`` are published."""
    return f"{TRIGGERS_PREFIX}{topic}"


def trigger_envelope(principal: str, payload: Any) -> dict[str, Any]:
    """Return what a driver publishes for a trigger: its principal and the payload."""
    return {"principal": principal, "payload": payload}


def open_envelope(content: Any) -> tuple[str, Any]:
    """Return (principal, payload) of a trigger message (``anonymous`` without envelope)."""
    if isinstance(content, dict) and set(content) == {"principal", "payload"}:
        return str(content["principal"]), content["payload"]
    return "anonymous", content


class SupervisorTriggers:
    """The trigger-reading loop of the supervisor (its scheduler, events and saves)."""

    _scheduler: Scheduler
    _events: LifecyclePublisher
    _log: FilteringBoundLogger
    _execute: Callable[[list[Command]], None]
    _save_now: Callable[[], Awaitable[str | None]]
    _trigger_task: asyncio.Task[None] | None = None

    def _start_triggers(self) -> None:
        """Start reading triggers from the bus (once; again if the loop ended)."""
        if self._trigger_task is None or self._trigger_task.done():
            loop = asyncio.get_running_loop()
            self._trigger_task = loop.create_task(self._read_triggers())

    async def _read_triggers(self) -> None:
        subscribed = False
        while True:
            try:
                handle: Any = getattr(self._events.bus, "handle", None)
                if handle is None:
                    return  # a bus without an actor (tests): nothing to read
                if not subscribed:
                    await handle.subscribe.remote(
                        TRIGGERS_SUBSCRIPTION,
                        (f"{TRIGGERS_PREFIX}*",),
                        TRIGGERS_CAPACITY,
                        Overflow.BLOCK,
                        None,
                        None,
                        True,
                    )
                    subscribed = True
                batch = await handle.peek.remote(TRIGGERS_SUBSCRIPTION, TRIGGERS_BATCH, 1.0)
                if batch:
                    await self._handle_triggers(handle, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the bus restarted or is unreachable: try again
                subscribed = False
                self._log.warning("triggers.read_failed", error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)

    async def _handle_triggers(self, handle: Any, batch: list[BusMessage]) -> None:
        answers = [(message, self._trigger(message)) for message in batch]
        await self._save_now()  # the runs started are durable before the messages go
        await handle.ack.remote(TRIGGERS_SUBSCRIPTION, len(batch))
        for message, run_ids in answers:
            if message.reply_to is not None:
                self._events.bus.reply(message, run_ids, wait=False)

    def _trigger_denied(self, principal: str, topic: str, payload: Any) -> str | None:
        """Return why ``principal`` may not publish on ``topic`` (the door says), or None."""
        return None

    def _trigger(self, message: BusMessage) -> list[str] | dict[str, str]:
        """Start the runs one trigger message starts; return their ids (or the refusal)."""
        topic = message.topic.removeprefix(TRIGGERS_PREFIX)
        principal, payload = open_envelope(message.payload)
        denied = self._trigger_denied(principal, topic, payload)
        if denied is not None:
            return {"denied": denied}
        commands = self._scheduler.handle(MessagePublished(topic=topic, payload=payload))
        self._execute(commands)
        return [c.workflow.id for c in commands if isinstance(c, SubmitScheduledRun)]
