"""OpenTelemetry tracing: tracer providers built from settings, and a JSON-lines exporter.

Nothing here sets OpenTelemetry's global tracer provider: the supervisor receives a
:data:`TracerProviderFactory` (pickled by Ray), calls it in its own process and passes the
provider on explicitly.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

from orchestrator.settings import TracingSettings

__all__ = [
    "JsonLinesSpanExporter",
    "PresetSpanIds",
    "SettingsTracerProviderFactory",
    "TracerProviderFactory",
    "build_tracer_provider",
    "read_spans_jsonl",
    "seconds_to_ns",
    "settings_tracer_provider_factory",
    "span_to_dict",
]

#: Something that builds a tracer provider when called (in the process that will use it).
TracerProviderFactory = Callable[[], TracerProvider]

_NS_PER_S = 1_000_000_000


def seconds_to_ns(seconds: float) -> int:
    """Convert a time in seconds (e.g. from an injected clock) to integer nanoseconds.

    Whole seconds and the fraction are converted apart, so an epoch time (about 1.7e9 s)
    keeps sub-microsecond precision instead of losing it in one large float product.

    Raises:
        ValueError: ``seconds`` is NaN or infinite.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"seconds_to_ns: seconds must be finite, got {seconds!r}")
    whole_s = math.floor(seconds)
    return whole_s * _NS_PER_S + round((seconds - whole_s) * _NS_PER_S)


def _hex_trace_id(trace_id: int) -> str:
    return format(trace_id, "032x")


def _hex_span_id(span_id: int) -> str:
    return format(span_id, "016x")


_SEQUENCES = (tuple, list)
_SCALARS = (str, bool, int, float)


def _plain(attributes: Any) -> dict[str, Any]:
    """Return OpenTelemetry attributes as a JSON-ready dict (sequences become lists)."""
    if not attributes:
        return {}
    # The SDK keeps sequence values as tuples; the ABC check is the slow general case.
    return {
        str(key): list(value)
        if isinstance(value, _SEQUENCES)
        or (not isinstance(value, _SCALARS) and isinstance(value, Sequence))
        else value
        for key, value in attributes.items()
    }


#: The last resource seen and its attributes made plain: every span of a provider shares it.
_last_resource: list[Any] = [None, {}]


def _resource_dict(resource: Any) -> dict[str, Any]:
    """Return ``resource``'s attributes made plain (a fresh dict; worked out once per resource)."""
    if resource is not _last_resource[0]:
        _last_resource[1] = _plain(resource.attributes)
        _last_resource[0] = resource
    return dict(_last_resource[1])


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """Return the JSON-ready record that :class:`JsonLinesSpanExporter` writes for ``span``.

    Returns:
        A dict with ``name``, ``kind``, ``trace_id`` (32 hex digits), ``span_id`` (16),
        ``parent_span_id`` (16 or ``None``), ``start_time_ns``, ``end_time_ns``, ``status``
        (``UNSET``/``OK``/``ERROR``), ``status_description``, ``attributes``, ``events``
        (``name``, ``time_ns``, ``attributes``) and ``resource`` (its attributes).
    """
    context = span.get_span_context()
    if context is None:  # only a span built by hand lacks one; the SDK always sets it
        raise ValueError(f"span {span.name!r} has no span context")
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": _hex_trace_id(context.trace_id),
        "span_id": _hex_span_id(context.span_id),
        "parent_span_id": _hex_span_id(span.parent.span_id) if span.parent else None,
        "start_time_ns": span.start_time,
        "end_time_ns": span.end_time,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": _plain(span.attributes),
        "events": [
            {"name": event.name, "time_ns": event.timestamp, "attributes": _plain(event.attributes)}
            for event in span.events
        ],
        "resource": _resource_dict(span.resource),
    }


class JsonLinesSpanExporter(SpanExporter):
    """Append one JSON object per finished span to a file (see :func:`span_to_dict`).

    The file (and its parent directories) is created when the exporter is, so a
    misconfigured path fails at start-up rather than at the first span. Each batch is
    written and flushed under a lock, so spans ended on several threads never interleave
    and are on disk when :meth:`export` returns.

    Args:
        path: The file; appended to if it exists.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file: IO[str] | None = self._path.open("a", encoding="utf-8")

    @property
    def path(self) -> Path:
        """The file spans are appended to."""
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans``, one line each, and flush.

        Returns:
            ``SUCCESS``, or ``FAILURE`` after :meth:`shutdown` or when writing fails.
        """
        lines = "".join(json.dumps(span_to_dict(span)) + "\n" for span in spans)
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            try:
                self._file.write(lines)
                self._file.flush()
            except OSError:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the file (every export already does); ``False`` after shutdown."""
        with self._lock:
            if self._file is None:
                return False
            self._file.flush()
            return True

    def shutdown(self) -> None:
        """Close the file; later exports fail. Calling it twice is harmless."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_spans_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Return the span records of a file written by :class:`JsonLinesSpanExporter`.

    Blank lines are skipped.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: a line is not a JSON object (the message names the line).
    """
    records: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as file:
        for line_number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_number}: not JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{line_number}: expected a JSON object")
            records.append(record)
    return records


class PresetSpanIds(IdGenerator):
    """Random ids, except a span id set in advance for the next span started on a thread.

    An attempt's span is made by the supervisor after the attempt ended (with the times
    the agent measured), but the spans its handler makes inside the agent must already
    name it as their parent: the supervisor draws the attempt span's id at dispatch, sends
    it with the attempt, and presets it here just before making the span.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._next = threading.local()

    def preset(self, span_id: int) -> None:
        """Make ``span_id`` the id of the next span started on this thread."""
        self._next.span_id = span_id

    def generate_span_id(self) -> int:
        """Return the preset id (once), else a random one."""
        span_id: int | None = getattr(self._next, "span_id", None)
        if span_id is not None:
            self._next.span_id = None
            return span_id
        return self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        """Return a random trace id."""
        return self._random.generate_trace_id()


def _otlp_exporter(settings: TracingSettings) -> SpanExporter:
    # OTLP over HTTP (protobuf): what collectors (OpenTelemetry Collector, Jaeger, Tempo)
    # accept on port 4318, with no gRPC stack to keep in step with Ray's own grpcio.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=settings.otlp_endpoint, timeout=settings.otlp_timeout_s)


def build_tracer_provider(settings: TracingSettings) -> TracerProvider:
    """Return a new tracer provider for ``settings``; the global provider is left alone.

    Spans are exported synchronously as they end (``SimpleSpanProcessor``), so a trace is
    complete on disk as soon as its last span ends; OTLP spans go in batches, in the
    background (flushed when the provider shuts down).

    Args:
        settings: ``exporter`` is ``none`` (spans are made but go nowhere), ``console``
            (stdout), ``jsonl`` (``jsonl_path``) or ``otlp`` (OTLP/HTTP to
            ``otlp_endpoint``); ``service_name`` becomes the ``service.name`` resource
            attribute.
    """
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.service_name}),
        id_generator=PresetSpanIds(),
    )
    if settings.exporter == "console":
        # OpenTelemetry's default ``out`` is the sys.stdout of its import time; pass the
        # current one so replacements (Ray's log redirection, pytest's capture) are followed.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout)))
    elif settings.exporter == "jsonl":
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(settings.jsonl_path)))
    elif settings.exporter == "otlp":
        provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(settings)))
    return provider


@dataclass(frozen=True)
class SettingsTracerProviderFactory:
    """A picklable :data:`TracerProviderFactory` that builds from tracing settings.

    Attributes:
        settings: Passed to :func:`build_tracer_provider` on each call.
    """

    settings: TracingSettings

    def __call__(self) -> TracerProvider:
        """Return a new provider built from :attr:`settings`."""
        return build_tracer_provider(self.settings)


def settings_tracer_provider_factory(settings: TracingSettings) -> TracerProviderFactory:
    """Return a picklable factory building a provider from ``settings`` when called.

    A relative ``jsonl_path`` is made absolute here, against the caller's (the driver's)
    working directory: the factory is called in another process (the supervisor actor),
    whose working directory Ray chooses.
    """
    jsonl_path = Path(settings.jsonl_path)
    if not jsonl_path.is_absolute():
        settings = settings.model_copy(update={"jsonl_path": str(jsonl_path.resolve())})
    return SettingsTracerProviderFactory(settings)
