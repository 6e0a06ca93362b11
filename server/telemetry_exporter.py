"""The telemetry exporter process: reads the spans and measurements the server hands over
(server/telemetry_handoff.py) from its standard input and exports them with the OpenTelemetry SDK,
as the server's OTEL_* variables say. It runs the SDK's batching, aggregation and OTLP encoding on
its own interpreter, so none of that competes with requests for the server's.

It exits when its input ends (the server closed it or is gone), after flushing what it holds.
Signals sent to the server's process group do not reach it: it must outlive the server's last
request to export it.

It runs at a lower scheduling priority than the server (NICENESS): on a busy machine its work
can wait, requests cannot. If it falls behind for long, the server's backlog limit drops
telemetry, never requests.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Callable, Mapping
from typing import IO, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from server.telemetry_handoff import INSTRUMENT, MEASURE, SPAN, exporters_wanted

NICENESS = 10


class Exporter:
    """Turns handed-over items back into SDK spans and measurements."""

    def __init__(self, env: Mapping[str, str]) -> None:
        service = env.get("OTEL_SERVICE_NAME", "idstitch")
        self.resource = _HashedOnce(Resource.create({"service.name": service}))
        protocol = env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").lower()
        traces, metrics_kind = exporters_wanted(env)
        self.spans: SpanProcessor | None = None
        if traces != "none":
            span_exporter = ConsoleSpanExporter() if traces == "console" else _otlp_spans(protocol)
            self.spans = BatchSpanProcessor(span_exporter)
        self.meters: MeterProvider | None = None
        if metrics_kind != "none":
            metric_exporter = (
                ConsoleMetricExporter() if metrics_kind == "console" else _otlp_metrics(protocol)
            )
            self.meters = MeterProvider(
                resource=self.resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)]
            )
        self._instruments: dict[int, Callable[[float, dict[str, Any]], None]] = {}
        self._scopes: dict[tuple[str, str | None], InstrumentationScope] = {}

    def take(self, items: list[tuple[Any, ...]]) -> None:
        for item in items:
            kind = item[0]
            if kind == MEASURE:
                record = self._instruments.get(item[1])
                if record is not None:
                    record(item[2], item[3])
            elif kind == SPAN:
                if self.spans is not None:
                    self.spans.on_end(self._span(item))
            elif kind == INSTRUMENT:
                self._define(*item[1:])

    def close(self) -> None:
        if self.spans is not None:
            self.spans.shutdown()
        if self.meters is not None:
            self.meters.shutdown()

    def _define(
        self, number: int, meter: str, version: str | None, kind: str, name: str, unit: str, description: str,
        bounds: list[float] | None,
    ) -> None:  # fmt: skip
        if self.meters is None:
            return
        m = self.meters.get_meter(meter, version)
        if kind == "histogram":
            self._instruments[number] = m.create_histogram(
                name, unit, description, explicit_bucket_boundaries_advisory=bounds
            ).record
        elif kind == "counter":
            self._instruments[number] = m.create_counter(name, unit, description).add
        elif kind == "up_down_counter":
            self._instruments[number] = m.create_up_down_counter(name, unit, description).add
        elif kind == "gauge":
            self._instruments[number] = m.create_gauge(name, unit, description).set

    def _span(self, item: tuple[Any, ...]) -> ReadableSpan:
        (
            _, name, trace_id, span_id, flags, trace_state, parent_id, parent_remote, kind, start, end,
            attributes, status_code, status_description, scope_name, scope_version, events,
        ) = item  # fmt: skip
        scope = self._scopes.get((scope_name, scope_version))
        if scope is None:
            scope = self._scopes[(scope_name, scope_version)] = InstrumentationScope(
                scope_name, scope_version
            )
        state = TraceState(list(trace_state)) if trace_state else None
        return ReadableSpan(
            name=name,
            context=SpanContext(trace_id, span_id, False, TraceFlags(flags), state),
            parent=SpanContext(trace_id, parent_id, parent_remote, TraceFlags(flags), state)
            if parent_id
            else None,
            resource=self.resource,
            attributes=attributes,
            events=[Event(n, a, t) for n, t, a in events],
            kind=SpanKind(kind),
            status=Status(StatusCode(status_code), status_description),
            start_time=start,
            end_time=end,
            instrumentation_scope=scope,
        )


class _HashedOnce(Resource):
    """The SDK's OTLP encoder groups spans by resource and so hashes the resource once per span,
    and a Resource's hash is a JSON dump of its attributes: 6% of this process's CPU at 100%
    sampling (profiled). This one never changes, so its hash is computed once."""

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def _otlp_spans(protocol: str) -> Any:
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

        return HttpSpans()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_metrics(protocol: str) -> Any:
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        return HttpMetrics()
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter()


def _frames(stream: IO[bytes]) -> Any:
    while True:
        head = stream.read(4)
        if len(head) < 4:
            return
        data = stream.read(int.from_bytes(head, "little"))
        yield marshal.loads(data)


def main() -> None:
    with contextlib.suppress(OSError):  # not allowed here: export at the server's priority
        os.nice(NICENESS)
    exporter = Exporter(os.environ)
    try:
        for items in _frames(sys.stdin.buffer):
            exporter.take(items)
    finally:
        exporter.close()


if __name__ == "__main__":
    main()
