"""`SchedulingCalls`: recurring and event-triggered workflows (a mixin of `Orchestrator`).

``schedule`` starts a workflow on a cron expression or an interval; ``on`` starts one for
each message published on a topic (``publish``), its tasks' `EVENT_PAYLOAD` placeholders
replaced by the message's payload. See `orchestrator.core.schedules`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestrator.core.access import AccessDeniedError
from orchestrator.core.input_limits import payload_problem
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.schedules import ScheduleSpec
from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.status import ScheduleInfo
from orchestrator.runtime.bus import Bus
from orchestrator.runtime.client import SupervisorClient
from orchestrator.runtime.supervisor_door import pickled_size
from orchestrator.runtime.supervisor_triggers import trigger_envelope, trigger_topic
from orchestrator.settings import Settings
from orchestrator.workflow import Workflow, check_structure


class SchedulingCalls:
    """Schedules and triggers over the orchestrator's `client`."""

    settings: Settings
    principal: str

    @property
    def client(self) -> SupervisorClient:
        """The supervisor's client (the `Orchestrator` provides it)."""
        raise NotImplementedError

    @property
    def bus(self) -> Bus:
        """The driver's bus client (the `Orchestrator` provides it)."""
        raise NotImplementedError

    def schedule(
        self,
        workflow: Workflow | WorkflowSpec,
        *,
        name: str | None = None,
        cron: str | None = None,
        every_s: float | None = None,
        timezone: str = "UTC",
        start_at: datetime | None = None,
        missed: str = "run_once",
        overlap: bool = False,
    ) -> ScheduleInfo:
        """Start ``workflow`` on a cron expression or every ``every_s`` seconds.

        Each run is a workflow of its own, with the id ``<name>@<fire time, UTC>``
        (`attach` to it). See `orchestrator.core.schedules.ScheduleSpec` for the fields;
        with durable state, schedules survive restarts and ``missed`` decides what
        happens to runs that fell while the orchestrator was down.

        Raises:
            WorkflowRejectedError: the workflow is invalid (nothing is kept).
            ValueError: the schedule is invalid (a bad cron expression, time zone...),
                or a schedule of that name exists.
        """
        spec = workflow.to_spec() if isinstance(workflow, Workflow) else workflow
        schedule = ScheduleSpec(
            name=name or spec.name,
            cron=cron,
            every_s=every_s,
            timezone=timezone,
            start_at=start_at,
            missed=missed,
            overlap=overlap,
        )
        return self._add(spec, schedule)

    def schedules(self) -> list[ScheduleInfo]:
        """Return every schedule's state (next firing, runs, last run's id...)."""
        return self.client.schedules()

    def unschedule(self, name: str) -> None:
        """Stop a schedule; runs already started go on. Raises `KeyError` if unknown."""
        self.client.remove_schedule(name)

    def on(
        self,
        topic: str,
        workflow: Workflow | WorkflowSpec,
        *,
        name: str | None = None,
        overlap: bool = True,
    ) -> ScheduleInfo:
        """Start a run of ``workflow`` for each message published on ``topic``.

        Each run is a workflow of its own (id ``<name>@event-<n>``); its tasks'
        `EVENT_PAYLOAD` placeholders become the message's payload. With ``overlap``
        false, a message that comes while the previous run still runs starts nothing.

        Raises:
            WorkflowRejectedError: the workflow is invalid.
            ValueError: a schedule or trigger of that name exists.
        """
        spec = workflow.to_spec() if isinstance(workflow, Workflow) else workflow
        return self._add(spec, ScheduleSpec(name=name or spec.name, topic=topic, overlap=overlap))

    def publish(
        self, topic: str, payload: Any = None, *, wait: bool = True, timeout_s: float = 60.0
    ) -> list[str]:
        """Publish a message on ``topic`` over the bus; return the ids of the runs it started.

        The supervisor reads triggers from the bus (``triggers.<topic>``); a message
        published while it is down (restarting) waits on the bus until it is back.
        The payload must be JSON-shaped (see `orchestrator.runtime.bus`).

        Args:
            topic: The trigger's topic.
            payload: What the runs' `EVENT_PAYLOAD` placeholders become.
            wait: Wait for the supervisor to start the runs (and return their ids);
                false: return ``[]`` once the message is on the bus.
            timeout_s: How long to wait for the supervisor.

        Raises:
            BusTimeoutError: the supervisor did not answer within ``timeout_s`` (the
                message stays on the bus: it starts its runs when the supervisor is back).
            ValueError: a bad topic or payload (named).
        """
        too_big = payload_problem(payload, self.settings.security.max_argument_bytes, pickled_size)
        if too_big is not None:
            raise ValueError(too_big)
        bus_topic = trigger_topic(topic)
        envelope = trigger_envelope(self.principal, payload)
        if not wait:
            self.bus.publish(bus_topic, envelope)
            self.bus.flush()
            return []
        answer = self.bus.request(bus_topic, envelope, timeout_s=timeout_s).payload
        if isinstance(answer, dict):  # refused by the supervisor's door
            raise AccessDeniedError(self.principal, "publish", str(answer.get("denied")))
        return [str(run_id) for run_id in answer or []]  # type: ignore[union-attr]

    def add_schedule(
        self, workflow: Workflow | WorkflowSpec, schedule: ScheduleSpec
    ) -> ScheduleInfo:
        """Start ``workflow`` as ``schedule`` says (a cron, an interval or a topic).

        The form behind `schedule` and `on`, for a `ScheduleSpec` made already (as a
        workflow file's ``schedule:`` or ``on_topic:``).

        Raises:
            WorkflowRejectedError: the workflow is invalid.
            ValueError: a schedule or trigger of that name exists.
        """
        spec = workflow.to_spec() if isinstance(workflow, Workflow) else workflow
        return self._add(spec, schedule)

    def _add(self, spec: WorkflowSpec, schedule: ScheduleSpec) -> ScheduleInfo:
        packed = PackedWorkflow.pack(spec.model_copy(update={"id": None}))
        check_structure(packed)
        self.client.add_schedule(schedule, packed)
        return next(info for info in self.schedules() if info.name == schedule.name)
