"""Tracing options: the OTLP/HTTP exporter against a real HTTP server, preset span ids,
the handler's parent span, and relative jsonl paths resolved on the driver's side."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from orchestrator import Orchestrator
from orchestrator.settings import Settings, TracingSettings
from orchestrator.telemetry.propagation import attempt_parent
from orchestrator.telemetry.tracing import PresetSpanIds, build_tracer_provider


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.received.append((self.path, request))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, ExportTraceServiceRequest]]]]:
    received: list[tuple[str, ExportTraceServiceRequest]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/traces", received
    finally:
        server.shutdown()
        server.server_close()


def _service(attributes: Any) -> str:
    return next(a.value.string_value for a in attributes if a.key == "service.name")  # type: ignore[no-any-return]


def test_otlp_exporter_posts_spans_to_the_collector(
    collector: tuple[str, list[tuple[str, ExportTraceServiceRequest]]],
) -> None:
    endpoint, received = collector
    settings = TracingSettings(exporter="otlp", otlp_endpoint=endpoint, service_name="svc")
    provider = build_tracer_provider(settings)
    with provider.get_tracer("t").start_as_current_span("outer"):
        provider.get_tracer("t").start_span("inner").end()
    provider.shutdown()  # flushes the batch
    spans = [
        (span.name, _service(resource.resource.attributes))
        for path, request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert {path for path, _ in received} == {"/v1/traces"}
    assert sorted(spans) == [("inner", "svc"), ("outer", "svc")]


def test_an_unknown_exporter_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="exporter"):
        TracingSettings.model_validate({"exporter": "zipkin"})


def test_a_preset_span_id_is_used_once_then_ids_are_random_again() -> None:
    provider = build_tracer_provider(TracingSettings())
    ids = provider.id_generator
    assert isinstance(ids, PresetSpanIds)
    ids.preset(0xABC)
    first = provider.get_tracer("t").start_span("a")
    second = provider.get_tracer("t").start_span("b")
    assert first.get_span_context().span_id == 0xABC
    assert second.get_span_context().span_id != 0xABC


def test_spans_started_inside_attempt_parent_are_its_children() -> None:
    provider = build_tracer_provider(TracingSettings())
    with attempt_parent((0x1234, 0x5678)):
        span = provider.get_tracer("t").start_span("handler work")
    assert span.get_span_context().trace_id == 0x1234
    parent = getattr(span, "parent", None)  # an SDK span: it knows its parent
    assert parent is not None and parent.span_id == 0x5678
    assert trace.get_current_span().get_span_context().span_id != 0x5678  # detached after
    with attempt_parent(None):
        alone = provider.get_tracer("t").start_span("no parent")
    assert getattr(alone, "parent", "?") is None


def test_a_relative_jsonl_path_is_resolved_against_the_drivers_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(tracing=TracingSettings(exporter="jsonl", jsonl_path="out/spans.jsonl"))
    resolved = settings.for_driver()
    assert resolved.tracing.jsonl_path == str(tmp_path / "out" / "spans.jsonl")
    assert resolved.for_driver() is resolved  # already absolute: unchanged
    # The orchestrator keeps (and sends its supervisor) the resolved settings.
    orchestrator = Orchestrator(settings=settings)
    assert orchestrator.settings.tracing.jsonl_path == resolved.tracing.jsonl_path
