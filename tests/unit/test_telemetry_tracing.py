"""Tracing: the JSON-lines exporter, providers built from settings, the picklable factory."""

from __future__ import annotations

import json
import pickle
import re
import threading
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import Status, StatusCode

from orchestrator.settings import TracingSettings
from orchestrator.telemetry import (
    JsonLinesSpanExporter,
    SettingsTracerProviderFactory,
    build_tracer_provider,
    read_spans_jsonl,
    seconds_to_ns,
    settings_tracer_provider_factory,
)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _jsonl_settings(path: Path, service_name: str = "test-service") -> TracingSettings:
    return TracingSettings(exporter="jsonl", jsonl_path=str(path), service_name=service_name)


def test_parent_and_child_spans_are_written_with_ids_times_and_resource(tmp_path: Path) -> None:
    # Given a provider writing JSON lines in a directory that does not exist yet
    path = tmp_path / "nested" / "dir" / "traces.jsonl"
    provider = build_tracer_provider(_jsonl_settings(path))
    tracer = provider.get_tracer("test")

    # When a workflow span and a task span are made with explicit times
    parent = tracer.start_span(
        "workflow", start_time=1_000, attributes={"workflow_id": "wf-1", "tasks": 2}
    )
    child = tracer.start_span(
        "task",
        context=trace.set_span_in_context(parent),
        start_time=2_000,
        attributes={"task_id": "t-1", "attempt": 1, "tags": ("a", "b")},
    )
    child.add_event("dispatched", attributes={"agent": "echo-0"}, timestamp=2_500)
    child.set_status(Status(StatusCode.OK))
    child.end(end_time=3_000)
    # Then the child is on disk as soon as it ends, before the parent ends
    assert [record["name"] for record in read_spans_jsonl(path)] == ["task"]
    parent.end(end_time=4_000)

    task, workflow = read_spans_jsonl(path)
    assert workflow["name"] == "workflow"
    assert HEX32.match(workflow["trace_id"])
    assert HEX16.match(workflow["span_id"])
    assert workflow["parent_span_id"] is None
    assert (workflow["start_time_ns"], workflow["end_time_ns"]) == (1_000, 4_000)
    assert workflow["attributes"] == {"workflow_id": "wf-1", "tasks": 2}
    assert workflow["status"] == "UNSET"
    assert workflow["resource"]["service.name"] == "test-service"

    assert task["trace_id"] == workflow["trace_id"]
    assert task["parent_span_id"] == workflow["span_id"]
    assert task["span_id"] != workflow["span_id"]
    assert HEX16.match(task["span_id"])
    assert (task["start_time_ns"], task["end_time_ns"]) == (2_000, 3_000)
    assert task["status"] == "OK"
    assert task["attributes"] == {"task_id": "t-1", "attempt": 1, "tags": ["a", "b"]}
    assert task["events"] == [
        {"name": "dispatched", "time_ns": 2_500, "attributes": {"agent": "echo-0"}}
    ]
    # And the ids match what OpenTelemetry reports
    assert task["span_id"] == format(child.get_span_context().span_id, "016x")
    assert workflow["trace_id"] == format(parent.get_span_context().trace_id, "032x")
    provider.shutdown()


def test_error_status_and_exception_event_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = build_tracer_provider(_jsonl_settings(path))
    tracer = provider.get_tracer("test")

    span = tracer.start_span("task", start_time=10, attributes={"retryable": False, "cost": 1.5})
    span.record_exception(RuntimeError("agent crashed"), timestamp=15)
    span.set_status(Status(StatusCode.ERROR, "agent crashed"))
    span.end(end_time=20)
    provider.shutdown()

    [record] = read_spans_jsonl(path)
    assert record["status"] == "ERROR"
    assert record["status_description"] == "agent crashed"
    assert record["attributes"] == {"retryable": False, "cost": 1.5}
    [event] = record["events"]
    assert event["name"] == "exception"
    assert event["time_ns"] == 15
    assert event["attributes"]["exception.type"] == "RuntimeError"
    assert event["attributes"]["exception.message"] == "agent crashed"


def test_each_line_is_one_json_object_and_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    for run in range(2):
        provider = build_tracer_provider(_jsonl_settings(path))
        with provider.get_tracer("test").start_as_current_span(f"run-{run}"):
            pass
        provider.shutdown()

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["run-0", "run-1"]


def test_exporter_is_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = build_tracer_provider(_jsonl_settings(path))
    tracer = provider.get_tracer("test")

    def make_spans(thread_index: int) -> None:
        for span_index in range(50):
            tracer.start_span(f"t{thread_index}-s{span_index}").end()

    threads = [threading.Thread(target=make_spans, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    provider.shutdown()

    names = {record["name"] for record in read_spans_jsonl(path)}
    assert names == {f"t{t}-s{s}" for t in range(8) for s in range(50)}


def test_exporter_fails_after_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    exporter = JsonLinesSpanExporter(path)
    assert exporter.path == path
    assert path.exists()
    assert exporter.force_flush() is True

    exporter.shutdown()
    exporter.shutdown()  # twice is harmless

    assert exporter.export([]) is SpanExportResult.FAILURE
    assert exporter.force_flush() is False


def test_read_spans_jsonl_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text('{"name": "ok"}\n\nnot json\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"traces\.jsonl:3"):
        read_spans_jsonl(path)

    path.write_text('{"name": "ok"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"traces\.jsonl:2: expected a JSON object"):
        read_spans_jsonl(path)


def test_exporter_none_makes_spans_but_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "traces.jsonl"
    provider = build_tracer_provider(
        TracingSettings(exporter="none", jsonl_path=str(path), service_name="svc")
    )

    with provider.get_tracer("test").start_as_current_span("quiet") as span:
        assert span.get_span_context().is_valid
    provider.shutdown()

    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
    assert provider.resource.attributes["service.name"] == "svc"


def test_exporter_console_prints_finished_spans(capsys: pytest.CaptureFixture[str]) -> None:
    provider = build_tracer_provider(TracingSettings(exporter="console"))

    provider.get_tracer("test").start_span("to-console", attributes={"task_id": "t-5"}).end()
    provider.shutdown()

    record = json.loads(capsys.readouterr().out)
    assert record["name"] == "to-console"
    assert record["attributes"] == {"task_id": "t-5"}


def test_building_a_provider_leaves_the_global_provider_alone(tmp_path: Path) -> None:
    before = trace.get_tracer_provider()
    provider = build_tracer_provider(_jsonl_settings(tmp_path / "traces.jsonl"))
    assert trace.get_tracer_provider() is before
    assert trace.get_tracer_provider() is not provider
    provider.shutdown()


def test_factory_survives_pickling_and_builds_a_working_provider(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    factory = settings_tracer_provider_factory(_jsonl_settings(path, service_name="supervisor"))

    restored = pickle.loads(pickle.dumps(factory))
    assert restored == factory
    provider = restored()
    assert isinstance(provider, TracerProvider)
    provider.get_tracer("test").start_span("from-factory").end()
    provider.shutdown()

    [record] = read_spans_jsonl(path)
    assert record["name"] == "from-factory"
    assert record["resource"]["service.name"] == "supervisor"


def test_factory_builds_a_new_provider_per_call(tmp_path: Path) -> None:
    factory = settings_tracer_provider_factory(_jsonl_settings(tmp_path / "traces.jsonl"))
    first, second = factory(), factory()
    assert first is not second
    first.shutdown()
    second.shutdown()


def test_factory_resolves_a_relative_jsonl_path_against_the_callers_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a relative path, resolved while the driver is in tmp_path
    monkeypatch.chdir(tmp_path)
    factory = settings_tracer_provider_factory(_jsonl_settings(Path("out/traces.jsonl")))
    assert isinstance(factory, SettingsTracerProviderFactory)
    assert factory.settings.jsonl_path == str(tmp_path.resolve() / "out" / "traces.jsonl")

    # When the (unpickled) factory is called from another working directory
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    provider = pickle.loads(pickle.dumps(factory))()
    provider.get_tracer("test").start_span("relative").end()
    provider.shutdown()

    # Then the spans land where the driver meant
    assert [r["name"] for r in read_spans_jsonl(tmp_path / "out" / "traces.jsonl")] == ["relative"]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("seconds", "expected_ns"),
    [
        (0.0, 0),
        (1.5, 1_500_000_000),
        (0.000_000_001, 1),
        (-0.25, -250_000_000),
        (1_700_000_000.123456, 1_700_000_000_123_456_001),
    ],
)
def test_seconds_to_ns(seconds: float, expected_ns: int) -> None:
    # 1_700_000_000.123456 is not exact in binary: the double is 1_700_000_000_123_456_001.1 ns,
    # which whole/fraction conversion keeps; one float product (doubles near 1.7e18 are
    # 256 ns apart) could be off by up to 128 ns.
    assert seconds_to_ns(seconds) == expected_ns


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), float("-inf")])
def test_seconds_to_ns_rejects_non_finite(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        seconds_to_ns(seconds)


def test_spans_of_two_providers_keep_their_own_resource(tmp_path: Path) -> None:
    # Given two providers of different services writing alternately to one file
    path = tmp_path / "traces.jsonl"
    providers = [build_tracer_provider(_jsonl_settings(path, name)) for name in ("one", "two")]
    for _ in range(2):
        for provider in providers:
            provider.get_tracer("test").start_span("s").end()
    # Then each span names its own service (the resource is not taken from the last one)
    records = read_spans_jsonl(path)
    assert [record["resource"]["service.name"] for record in records] == [
        "one",
        "two",
        "one",
        "two",
    ]
    for provider in providers:
        provider.shutdown()
