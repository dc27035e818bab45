"""Trace context carried with an attempt, so a handler's own spans nest under its attempt.

The supervisor sends each attempt the ids of its future attempt span (its workflow's
trace id and a span id drawn at dispatch, see `PresetSpanIds`). Inside the agent,
`attempt_parent` makes that span the current one while the handler runs: spans the
handler starts with OpenTelemetry's API (``trace.get_tracer(...).start_as_current_span``)
are then its children, in the same trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

#: (trace id, span id) of an attempt's span, as sent to the agent.
TraceParent = tuple[int, int]


@contextmanager
def attempt_parent(parent: TraceParent | None) -> Iterator[None]:
    """Make the attempt span ``parent`` the current span within the block (None: nothing)."""
    if parent is None:
        yield
        return
    trace_id, span_id = parent
    remote = SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
    try:
        yield
    finally:
        context.detach(token)
