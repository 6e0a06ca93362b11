"""OpenTelemetry for the server: providers and exporters from the standard OTEL_* variables, a
span and a latency measurement per RPC (with W3C trace context taken from the caller's metadata),
and JSON log lines that carry the trace and span ids.

Nothing is exported by default. OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER (`otlp`, `console`,
`none`) or OTEL_EXPORTER_OTLP_ENDPOINT switch export on; OTEL_EXPORTER_OTLP_PROTOCOL picks `grpc`
(default) or `http/protobuf`; OTEL_SERVICE_NAME names the service (default `idstitch`);
OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG sample. The providers are the SDK's
(server/telemetry_sdk.py).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import metrics, propagate, trace

from server import interception

_state: dict[str, Any] = {"active": False}

rpc_duration = metrics.get_meter("idstitch.rpc").create_histogram(
    "rpc.server.duration", unit="ms", description="Duration of inbound RPCs"
)


def active() -> bool:
    """Whether SDK providers are installed (then stores are wrapped for spans and latencies)."""
    return bool(_state["active"])


def install(tracer_provider: Any | None, meter_provider: Any | None) -> None:
    """Installs providers as the process's global ones (once per process: OpenTelemetry ignores
    a second installation)."""
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)
    _state["active"] = _state["active"] or tracer_provider is not None or meter_provider is not None


def configure_from_env(env: Mapping[str, str] = os.environ) -> bool:
    """Sets up export on the SDK as the OTEL_* variables ask (server/telemetry_sdk.py); returns
    whether anything is exported. With export off no SDK object exists: the API's no-ops run."""
    from server import telemetry_sdk

    tracer_provider, meter_provider = telemetry_sdk.providers(env)
    if tracer_provider is None and meter_provider is None:
        return False
    install(tracer_provider, meter_provider)
    return True


def shutdown() -> None:
    """Exports what is buffered (at server stop)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        stop = getattr(provider, "shutdown", None)
        if stop is not None:
            stop()


class TracingInterceptor(grpc.ServerInterceptor):
    """One SERVER span and one `rpc.server.duration` measurement per RPC, named and labelled by
    service, method and status code only — requests and metadata values are never recorded."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("idstitch.rpc")
        self._attributes: dict[str, dict[int, dict[str, Any]]] = {}
        """Metric attributes by method and status code, made once (this runs on every call)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        full = handler_call_details.method.lstrip("/")
        service, _, method = full.partition("/")
        carrier = {
            k: v
            for k, v in (handler_call_details.invocation_metadata or ())
            if k in ("traceparent", "tracestate")
        }
        labels = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}
        return interception.wrap(handler, self._traced(full, labels, carrier))

    def _traced(self, name: str, labels: dict[str, str], carrier: dict[str, Any]) -> interception.Around:
        by_code = self._attributes.setdefault(name, {})

        @contextmanager
        def traced(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            parent = propagate.extract(carrier) if carrier else None
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            with self._tracer.start_as_current_span(
                name,
                context=parent,
                kind=trace.SpanKind.SERVER,
                attributes=labels,
                record_exception=False,  # messages may quote values; the status code says enough
                set_status_on_exception=False,
            ) as span:
                try:
                    yield request
                except BaseException:
                    code = interception.code_of(context) or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    status = code.value[0]
                    span.set_attribute("rpc.grpc.status_code", status)
                    if code != grpc.StatusCode.OK:
                        span.set_status(trace.Status(trace.StatusCode.ERROR, code.name))
                    attrs = by_code.get(status)
                    if attrs is None:
                        attrs = by_code[status] = {**labels, "rpc.grpc.status_code": status}
                    rpc_duration.record((time.perf_counter() - start) * 1000, attrs)

        return traced


class JsonLines(logging.Formatter):
    """One JSON object per log line, with the current trace and span ids. Log messages in idstitch
    are written without identifier values; this adds none."""

    def format(self, record: logging.LogRecord) -> str:
        ctx = trace.get_current_span().get_span_context()
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if ctx.is_valid:
            line["trace_id"] = format(ctx.trace_id, "032x")
            line["span_id"] = format(ctx.span_id, "016x")
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__  # the type only: messages may quote values
        return json.dumps(line)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
