"""Export is set up on the standard OpenTelemetry SDK as the OTEL_* variables say: nothing (and no
SDK object) by default, the SDK's own providers, processors and exporters otherwise — so what a
user adds to those providers plugs in."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common.observability import span
from server import telemetry_sdk


def test_nothing_is_exported_and_no_sdk_provider_is_made_by_default():
    assert telemetry_sdk.providers({}) == (None, None)
    assert telemetry_sdk.providers(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_SDK_DISABLED": "true"}
    ) == (
        None,
        None,
    )


def test_the_variables_choose_the_sdk_exporters_and_the_service_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    env = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
    }
    tracer_provider, meter_provider = telemetry_sdk.providers(env)
    assert isinstance(tracer_provider, TracerProvider) and isinstance(meter_provider, MeterProvider)
    assert tracer_provider.resource.attributes["service.name"] == "idstitch"
    mine = InMemorySpanExporter()  # a user's own processor plugs into the same provider
    tracer_provider.add_span_processor(SimpleSpanProcessor(mine))
    tracer_provider.get_tracer("t").start_span("a span").end()
    tracer_provider.shutdown()
    meter_provider.shutdown()
    assert [s.name for s in mine.get_finished_spans()] == ["a span"]
    monkeypatch.setenv("OTEL_SERVICE_NAME", "idstitch-eu-1")
    named, _ = telemetry_sdk.providers({"OTEL_TRACES_EXPORTER": "console"})
    assert named is not None and named.resource.attributes["service.name"] == "idstitch-eu-1"
    named.shutdown()


@pytest.mark.parametrize(
    ("protocol", "module"),
    [
        ("grpc", "opentelemetry.exporter.otlp.proto.grpc"),
        ("http/protobuf", "opentelemetry.exporter.otlp.proto.http"),
    ],
)
def test_the_otlp_protocol_picks_the_exporter(protocol, module):
    assert type(telemetry_sdk.otlp_spans(protocol)).__module__.startswith(module)
    assert type(telemetry_sdk.otlp_metrics(protocol)).__module__.startswith(module)


def test_a_failed_span_keeps_the_exception_type_and_never_its_message():
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("t")
    import common.observability as observability

    old, observability.tracer = observability.tracer, tracer
    try:
        with pytest.raises(ValueError), span("idstitch.test"):
            raise ValueError("alice@example.com")
    finally:
        observability.tracer = old
    [s] = exported.get_finished_spans()
    assert s.attributes["error.type"] == "ValueError" and s.status.status_code.name == "ERROR"
    assert "alice" not in repr(s.to_json())
