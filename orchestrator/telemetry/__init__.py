"""Telemetry: structlog configuration and OpenTelemetry tracing, all injected, never global.

Importing this package never imports Ray.
"""

from __future__ import annotations

from orchestrator.telemetry.logging import configure_logging, get_logger
from orchestrator.telemetry.tracing import (
    JsonLinesSpanExporter,
    SettingsTracerProviderFactory,
    TracerProviderFactory,
    build_tracer_provider,
    read_spans_jsonl,
    seconds_to_ns,
    settings_tracer_provider_factory,
    span_to_dict,
)

__all__ = [
    "JsonLinesSpanExporter",
    "SettingsTracerProviderFactory",
    "TracerProviderFactory",
    "build_tracer_provider",
    "configure_logging",
    "get_logger",
    "read_spans_jsonl",
    "seconds_to_ns",
    "settings_tracer_provider_factory",
    "span_to_dict",
]
