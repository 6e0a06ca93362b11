"""The light tracer of server/telemetry_spans.py: it samples as OTEL_TRACES_SAMPLER says, keeps
W3C parentage, and hands the exporter process records it can turn back into SDK spans — with
exceptions reduced to their type."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_OFF,
    DEFAULT_ON,
    ParentBasedTraceIdRatio,
    TraceIdRatioBased,
)

from server.telemetry_exporter import Exporter
from server.telemetry_spans import HandoffTracerProvider, sampler_from_env

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
TRACEPARENT = f"00-{TRACE_ID:032x}-00f067aa0ba902b7-01"


def _tracer(sampler: Any = ALWAYS_ON) -> tuple[trace.Tracer, list[tuple[Any, ...]]]:
    handed: list[tuple[Any, ...]] = []
    return HandoffTracerProvider(handed.append, sampler).get_tracer("idstitch.test", "1.0"), handed


def _readable(items: list[tuple[Any, ...]]) -> list[Any]:
    exporter = Exporter({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    return [exporter._span(item) for item in items]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, DEFAULT_ON),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, ALWAYS_ON),
        ({"OTEL_TRACES_SAMPLER": "ALWAYS_OFF"}, ALWAYS_OFF),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, DEFAULT_OFF),
        ({"OTEL_TRACES_SAMPLER": "no_such_sampler"}, DEFAULT_ON),
    ],
)
def test_the_sampler_is_the_one_the_environment_names(env, expected):
    assert sampler_from_env(env) is expected


def test_ratio_samplers_take_their_ratio_from_the_argument():
    ratio = sampler_from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"})
    assert isinstance(ratio, TraceIdRatioBased) and ratio.rate == 0.25
    based = sampler_from_env(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    )
    assert isinstance(based, ParentBasedTraceIdRatio) and based._root.rate == 0.1
    bad = sampler_from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "tenth"})
    assert isinstance(bad, TraceIdRatioBased) and bad.rate == 1.0


def test_spans_keep_the_callers_trace_and_their_parentage():
    tracer, handed = _tracer()
    caller = propagate.extract({"traceparent": TRACEPARENT})
    server = tracer.start_as_current_span(
        "rpc", context=caller, kind=trace.SpanKind.SERVER, attributes={"a": 1}
    )
    with server, tracer.start_as_current_span("stitch") as child:
        child.set_attribute("persons.created", 2)
        child.add_event("refused", {"rule": "kiosk"})
        assert format(trace.get_current_span().get_span_context().trace_id, "032x") in TRACEPARENT
    assert not trace.get_current_span().get_span_context().is_valid  # the context is restored
    stitch, rpc = _readable(handed)
    assert rpc.context.trace_id == stitch.context.trace_id == TRACE_ID
    assert rpc.parent.span_id == 0x00F067AA0BA902B7 and rpc.parent.is_remote
    assert stitch.parent.span_id == rpc.context.span_id and not stitch.parent.is_remote
    assert rpc.kind is trace.SpanKind.SERVER and rpc.attributes == {"a": 1}
    assert stitch.attributes == {"persons.created": 2}
    assert [(e.name, dict(e.attributes)) for e in stitch.events] == [("refused", {"rule": "kiosk"})]
    assert rpc.instrumentation_scope.name == "idstitch.test" and rpc.instrumentation_scope.version == "1.0"
    assert 0 < rpc.start_time <= stitch.start_time <= stitch.end_time <= rpc.end_time


def test_an_exception_leaves_its_type_and_never_its_message():
    tracer, handed = _tracer()
    with pytest.raises(ValueError), tracer.start_as_current_span("store.get"):
        raise ValueError("no person for jane.doe@example.com")
    [span] = _readable(handed)
    assert span.status.status_code is trace.StatusCode.ERROR and span.status.description == "ValueError"
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        ("exception", {"exception.type": "ValueError"})
    ]
    assert "jane" not in repr(handed)


def test_an_exception_is_left_out_when_the_caller_says_so():
    tracer, handed = _tracer()
    with (
        pytest.raises(KeyError),
        tracer.start_as_current_span("rpc", record_exception=False, set_status_on_exception=False),
    ):
        raise KeyError("x")
    [span] = _readable(handed)
    assert span.status.status_code is trace.StatusCode.UNSET and not span.events


def test_an_unsampled_trace_hands_over_nothing_but_keeps_its_ids_for_the_logs():
    tracer, handed = _tracer(ALWAYS_OFF)
    caller = propagate.extract({"traceparent": TRACEPARENT})
    with tracer.start_as_current_span("rpc", context=caller) as span:
        assert not span.is_recording()
        assert trace.get_current_span().get_span_context().trace_id == TRACE_ID
    assert handed == []


def test_a_ratio_samples_about_that_share_of_new_traces():
    tracer, handed = _tracer(sampler_from_env({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                               "OTEL_TRACES_SAMPLER_ARG": "0.1"}))  # fmt: skip
    for _ in range(4000):
        with tracer.start_as_current_span("rpc"), tracer.start_as_current_span("store.get"):
            pass
    roots = [i for i in handed if i[1] == "rpc"]
    assert 300 <= len(roots) <= 500  # 400 expected, standard deviation 19: the band is ±5 of them
    assert len(handed) == 2 * len(roots)  # a sampled trace's children are sampled with it


def test_an_ended_span_changes_no_more_and_is_handed_over_once():
    tracer, handed = _tracer()
    span = tracer.start_span("rpc")
    span.set_status(trace.StatusCode.OK)
    span.set_status(trace.Status(trace.StatusCode.ERROR, "late"))  # OK is final
    span.end()
    span.set_attribute("late", 1)
    span.end()
    [readable] = _readable(handed)
    assert readable.status.status_code is trace.StatusCode.OK and "late" not in readable.attributes
