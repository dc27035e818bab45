"""`WorkflowTracer`: one span per workflow, and one child span per task attempt.

Attempt spans are made in the supervisor, after the fact, with the start and end times the
agent measured, and every attempt span has its workflow's span as parent. Their span ids
are drawn at dispatch and sent with the attempt (`attempt_parent`), so that the spans a
handler makes inside its agent nest under its attempt's span; agents build their own
tracer provider with `agent_factory` to export those.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from orchestrator.core.commands import AttemptOrder
from orchestrator.core.events import AttemptOutcome
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.states import WorkflowState
from orchestrator.settings import TracingSettings
from orchestrator.telemetry.propagation import TraceParent
from orchestrator.telemetry.tracing import (
    PresetSpanIds,
    SettingsTracerProviderFactory,
    build_tracer_provider,
)

_NS_PER_S = 1_000_000_000


def _ns(seconds: float) -> int:
    return int(seconds * _NS_PER_S)


class WorkflowTracer:
    """Makes the spans of workflows and their attempts.

    Args:
        factory: Builds the tracer provider in this process (injected by the driver).
        settings: Used when no factory is given; ``exporter = "none"`` then means no
            tracing work at all.
    """

    def __init__(
        self, factory: Callable[[], trace.TracerProvider] | None, settings: TracingSettings
    ) -> None:
        provider: trace.TracerProvider
        #: Builds the agents' tracer providers (for the handlers' own spans), or None.
        self.agent_factory: Callable[[], trace.TracerProvider] | None = factory
        if factory is not None:
            provider = factory()
        elif settings.exporter == "none":
            provider = trace.NoOpTracerProvider()
        else:
            provider = build_tracer_provider(settings)
            self.agent_factory = SettingsTracerProviderFactory(settings)
        self._provider = provider
        # A no-op provider records nothing: attempt spans are then not even made (they
        # would cost their attributes and status on every outcome, for nothing).
        self._recording = not isinstance(provider, trace.NoOpTracerProvider)
        self._tracer = provider.get_tracer("orchestrator")
        self._spans: dict[str, Span] = {}
        self._contexts: dict[str, Context] = {}
        self._trace_ids: dict[str, int] = {}  # workflow id -> its span's trace id
        generator = getattr(provider, "id_generator", None)
        # Only a provider that takes preset span ids can give the handlers a parent.
        self._ids = generator if isinstance(generator, PresetSpanIds) else None
        self._span_ids: dict[int, int] = {}  # attempt id -> its span's id, until it ends
        self._random = random.Random()

    def attempt_parent(self, order: AttemptOrder) -> TraceParent | None:
        """Draw the span id of ``order``'s attempt span; return (trace id, span id) or None."""
        if self._ids is None:
            return None
        trace_id = self._trace_ids.get(order.workflow_id)
        if trace_id is None:
            return None
        span_id = self._span_ids[order.attempt_id] = self._random.getrandbits(64) or 1
        return trace_id, span_id

    def _preset(self, attempt_id: int) -> None:
        span_id = self._span_ids.pop(attempt_id, None)
        if span_id is not None and self._ids is not None:
            self._ids.preset(span_id)

    def workflow_started(self, spec: PackedWorkflow) -> None:
        """Open the workflow's span."""
        workflow_id = spec.id or spec.name
        span = self._tracer.start_span(
            f"workflow {spec.name}",
            attributes={
                "workflow.id": workflow_id,
                "workflow.name": spec.name,
                "workflow.tasks": len(spec.rows),
                **{f"workflow.metadata.{k}": v for k, v in spec.metadata.items()},
            },
        )
        self._spans[workflow_id] = span
        self._contexts[workflow_id] = trace.set_span_in_context(span)
        self._trace_ids[workflow_id] = span.get_span_context().trace_id

    def attempt_finished(self, order: AttemptOrder, outcome: AttemptOutcome, agent_id: str) -> None:
        """Record one attempt as a child span of its workflow's span."""
        context = self._contexts.get(order.workflow_id)
        if context is None or not self._recording:
            self._span_ids.pop(order.attempt_id, None)
            return
        self._preset(order.attempt_id)
        span = self._tracer.start_span(
            f"task {order.task_id}",
            context=context,
            start_time=_ns(outcome.started_s),
            attributes={
                "workflow.id": order.workflow_id,
                "task.id": order.task_id,
                "task.attempt": order.attempt,
                "task.priority": order.priority.name,
                "agent.id": agent_id,
            },
        )
        if outcome.ok:
            span.set_status(Status(StatusCode.OK))
        else:
            span.set_status(
                Status(StatusCode.ERROR, f"{outcome.error_type}: {outcome.error_message}")
            )
            span.add_event(
                "exception",
                {
                    "exception.type": outcome.error_type or "",
                    "exception.message": outcome.error_message or "",
                    "exception.stacktrace": outcome.traceback or "",
                },
                timestamp=_ns(outcome.finished_s),
            )
        span.end(end_time=_ns(outcome.finished_s))

    def attempts_lost(self, orders: Iterable[AttemptOrder], reason: str) -> None:
        """Record attempts that were lost with their agent."""
        for order in orders:
            context = self._contexts.get(order.workflow_id)
            if context is None:
                self._span_ids.pop(order.attempt_id, None)
                continue
            self._preset(order.attempt_id)
            span = self._tracer.start_span(
                f"task {order.task_id}",
                context=context,
                attributes={
                    "workflow.id": order.workflow_id,
                    "task.id": order.task_id,
                    "task.attempt": order.attempt,
                    "task.lost": True,
                },
            )
            span.set_status(Status(StatusCode.ERROR, f"agent lost: {reason}"))
            span.end()

    def workflow_finished(self, workflow_id: str, state: WorkflowState) -> None:
        """Close the workflow's span with its final state."""
        span = self._spans.pop(workflow_id, None)
        self._contexts.pop(workflow_id, None)
        self._trace_ids.pop(workflow_id, None)
        if span is None:
            return
        span.set_attribute("workflow.state", state.value)
        if state is WorkflowState.SUCCEEDED:
            span.set_status(Status(StatusCode.OK))
        else:
            span.set_status(Status(StatusCode.ERROR, f"workflow {state.value}"))
        span.end()

    def shutdown(self) -> None:
        """Close open spans and flush the exporter."""
        for workflow_id in list(self._spans):
            self.workflow_finished(workflow_id, WorkflowState.CANCELLED)
        shutdown = getattr(self._provider, "shutdown", None)
        if callable(shutdown):
            shutdown()
