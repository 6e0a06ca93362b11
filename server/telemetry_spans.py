"""A tracer whose spans are plain records handed to the exporter process (server/telemetry_handoff.py).

Why not the SDK's tracer: starting and ending an SDK span cost 23-35 us (microbenchmarked) — bounded
attributes with a lock, span limits, a resource, processors called on start and end — and a sampled
Resolve makes two of them on the request path, where bench/telemetry_overhead.py measured the
overhead. Everything that work is for happens again in the exporter process, which rebuilds each
span as an SDK `ReadableSpan` before the SDK's batch processor and OTLP exporter see it.

What is kept from the SDK is what decides which traces exist: its samplers (chosen by
OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG), random 128/64-bit ids like its id generator's,
and the API's context, so W3C propagation, `trace.get_current_span()` and the trace ids in log
lines behave as before. Span links are not carried (idstitch makes none).

Privacy: a recorded exception is its type only (messages may quote a value), and so is the
status description set when an exception leaves a span.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.util.types import Attributes, AttributeValue

from server.telemetry_handoff import SPAN

log = logging.getLogger(__name__)

_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED | trace.TraceFlags.RANDOM_TRACE_ID)
_NOT_SAMPLED = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)
_SAMPLED_GIVEN_ID = trace.TraceFlags(trace.TraceFlags.SAMPLED)
_NOT_SAMPLED_GIVEN_ID = trace.TraceFlags(trace.TraceFlags.DEFAULT)


def sampler_from_env(env: Mapping[str, str]) -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER names (the specification's six; default parentbased_always_on),
    with OTEL_TRACES_SAMPLER_ARG as the ratio."""
    name = env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on").lower()
    fixed = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF, "parentbased_always_on": DEFAULT_ON,
             "parentbased_always_off": DEFAULT_OFF}  # fmt: skip
    if name in fixed:
        return fixed[name]
    if name not in ("traceidratio", "parentbased_traceidratio"):
        log.warning("OTEL_TRACES_SAMPLER %r is not known; sampling every trace", name)
        return DEFAULT_ON
    try:
        ratio = float(env.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    except ValueError:
        log.warning("OTEL_TRACES_SAMPLER_ARG is not a number; sampling every trace")
        ratio = 1.0
    return TraceIdRatioBased(ratio) if name == "traceidratio" else ParentBasedTraceIdRatio(ratio)


class HandoffTracerProvider(trace.TracerProvider):
    def __init__(self, put: Callable[[tuple[Any, ...]], None], sampler: Sampler) -> None:
        self._put = put
        self.sampler = sampler

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        version = instrumenting_library_version
        return HandoffTracer(self._put, self.sampler, instrumenting_module_name, version)


class HandoffTracer(trace.Tracer):
    def __init__(
        self, put: Callable[[tuple[Any, ...]], None], sampler: Sampler, scope: str, version: str | None
    ) -> None:
        self._put = put
        self._sampler = sampler
        self._scope = scope
        self._version = version

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        parent: trace.SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is not None and parent.is_valid:
            trace_id = parent.trace_id
            random_id = bool(parent.trace_flags & trace.TraceFlags.RANDOM_TRACE_ID)
        else:
            parent = None
            trace_id = random.getrandbits(128) or 1
            random_id = True
        result = self._sampler.should_sample(context, trace_id, name, kind, attributes, links)
        sampled = result.decision.is_sampled()
        if random_id:
            flags = _SAMPLED if sampled else _NOT_SAMPLED
        else:
            flags = _SAMPLED_GIVEN_ID if sampled else _NOT_SAMPLED_GIVEN_ID
        span_context = trace.SpanContext(
            trace_id, random.getrandbits(64) or 1, False, flags, result.trace_state
        )
        if not result.decision.is_recording():
            return trace.NonRecordingSpan(span_context)
        span_attributes = dict(result.attributes) if result.attributes else {}
        if attributes:
            span_attributes.update(attributes)
        return HandoffSpan(
            self._put if sampled else None, name, span_context, parent, kind, span_attributes,
            self._scope, self._version, start_time or time.time_ns(),
        )  # fmt: skip

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: trace.SpanKind = trace.SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpan:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        return CurrentSpan(span, end_on_exit, record_exception, set_status_on_exception)


class CurrentSpan:
    """`with tracer.start_as_current_span(...) as span`: makes the span current for the block and
    ends it after. A class rather than a generator-based context manager: this runs on every
    request and store call, and a generator's machinery costs more than the span itself."""

    __slots__ = ("_end", "_record", "_set_status", "_span", "_token")

    def __init__(self, span: trace.Span, end_on_exit: bool, record_exception: bool, set_status: bool) -> None:
        self._span = span
        self._end = end_on_exit
        self._record = record_exception
        self._set_status = set_status

    def __enter__(self) -> trace.Span:
        self._token = context_api.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            span = self._span
            if exc is not None and isinstance(exc, Exception) and span.is_recording():
                if self._record:
                    span.record_exception(exc)
                if self._set_status:
                    span.set_status(trace.Status(trace.StatusCode.ERROR, exc_type.__name__))  # type: ignore[union-attr]
        finally:
            context_api.detach(self._token)
            if self._end:
                self._span.end()


class HandoffSpan(trace.Span):
    """A recording span: its fields, and at its end one tuple to the exporter process (when sampled)."""

    __slots__ = (
        "_attributes",
        "_context",
        "_ended",
        "_events",
        "_kind",
        "_name",
        "_parent",
        "_put",
        "_scope",
        "_start",
        "_status_code",
        "_status_description",
        "_version",
    )  # fmt: skip

    def __init__(
        self, put: Callable[[tuple[Any, ...]], None] | None, name: str, span_context: trace.SpanContext,
        parent: trace.SpanContext | None, kind: trace.SpanKind, attributes: dict[str, AttributeValue],
        scope: str, version: str | None, start: int,
    ) -> None:  # fmt: skip
        self._put = put
        self._name = name
        self._context = span_context
        self._parent = parent
        self._kind = kind
        self._attributes = attributes
        self._scope = scope
        self._version = version
        self._start = start
        self._status_code = trace.StatusCode.UNSET
        self._status_description: str | None = None
        self._events: list[tuple[str, int, dict[str, AttributeValue]]] = []
        self._ended = False

    def get_span_context(self) -> trace.SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        if not self._ended:
            for key, value in attributes.items():
                if value is not None:
                    self._attributes[key] = value

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        if not self._ended and value is not None:
            self._attributes[key] = value

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        if not self._ended:
            self._events.append((name, timestamp or time.time_ns(), dict(attributes) if attributes else {}))

    def update_name(self, name: str) -> None:
        if not self._ended:
            self._name = name

    def set_status(self, status: trace.Status | trace.StatusCode, description: str | None = None) -> None:
        """As the specification has it: OK is final, and UNSET changes nothing."""
        if self._ended or self._status_code is trace.StatusCode.OK:
            return
        if isinstance(status, trace.Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is trace.StatusCode.UNSET:
            return
        self._status_code = code
        self._status_description = description if code is trace.StatusCode.ERROR else None

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The exception's type only: its message and traceback may quote personal data."""
        self.add_event(
            "exception", {"exception.type": type(exception).__name__, **(attributes or {})}, timestamp
        )

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if self._put is None:  # recorded but not sampled: nothing to export
            return
        ctx, parent = self._context, self._parent
        self._put(
            (
                SPAN, self._name, ctx.trace_id, ctx.span_id, int(ctx.trace_flags),
                tuple(ctx.trace_state.items()) if ctx.trace_state else (),
                parent.span_id if parent else 0, bool(parent and parent.is_remote),
                self._kind.value, self._start, end_time or time.time_ns(), self._attributes,
                self._status_code.value, self._status_description, self._scope, self._version,
                self._events,
            )
        )  # fmt: skip
