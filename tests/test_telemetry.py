"""Telemetry end to end over real gRPC, with an in-memory span exporter, metric reader and log
capture: the expected spans and metrics appear, trace context comes from the caller — and no
identifier value, raw, normalized or hashed, is anywhere in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from idstitch.channels import with_key
from server import telemetry
from server.app import create_server
from server.config import load_settings
from server.telemetry import JsonLines
from tests.telemetry_workload import IDENTIFIERS, TRACE_ID, exercise

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Runs a small population through every service once, collecting what telemetry saw."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.install(tracer_provider, meter_provider)
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonLines())
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    settings = load_settings(data_dir=tmp_path_factory.mktemp("data"), port=0)
    running = create_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as raw:
            ch = with_key(raw, (settings.data_dir / "admin.key").read_text().strip())
            exercise(ch)
        keys = [running.service.key_of(t, v) for t, v in IDENTIFIERS]
    finally:
        running.stop(0)
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
        tracer_provider.shutdown()  # later tests in this process record nothing more
    yield {"spans": spans.get_finished_spans(), "metrics": reader.get_metrics_data(), "logs": logs.getvalue(),
           "keys": [k.key for k in keys if not isinstance(k, str)]}  # fmt: skip
    meter_provider.shutdown()


def _by_name(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def _points(data: object, name: str) -> list[dict[str, object]]:
    out = []
    for rm in data.resource_metrics:  # type: ignore[attr-defined]
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out += [dict(p.attributes) | {"_value": getattr(p, "value", getattr(p, "count", None))}
                            for p in m.data.data_points]  # fmt: skip
    return out


def test_each_rpc_is_a_server_span_with_its_children_and_the_callers_trace(collected):
    spans = collected["spans"]
    [ingest] = [
        s
        for s in _by_name(spans, "idstitch.v1.IdentityService/Ingest")
        if s.context.trace_id == int(TRACE_ID, 16)
    ]
    assert ingest.attributes["rpc.system"] == "grpc" and ingest.attributes["rpc.grpc.status_code"] == 0
    children = {
        s.name: s for s in spans if s.parent is not None and s.context.trace_id == ingest.context.trace_id
    }
    stitch = children["idstitch.stitch"]
    assert stitch.attributes["idstitch.batch.size"] == 8 and stitch.attributes["idstitch.persons.merged"] >= 1
    assert stitch.attributes["idstitch.links.refused"] >= 1
    assert children["graph.stitch"].attributes["db.system"] == "sqlite"
    assert children["profiles.append"].parent.span_id == children["idstitch.profile.fold"].context.span_id
    [missing] = [s for s in _by_name(spans, "idstitch.v1.ProfileService/GetProfile")
                 if s.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]]  # fmt: skip
    assert missing.status.status_code.name == "ERROR"
    assert _by_name(spans, "idstitch.erase") and _by_name(spans, "graph.erase_person")
    assert _by_name(spans, "idstitch.v1.PrivacyService/Export")


def test_metrics_cover_rpcs_ingest_merges_refusals_sharing_sizes_erasures_and_stores(collected):
    data = collected["metrics"]
    methods = {p["rpc.method"] for p in _points(data, "rpc.server.duration")}
    assert {"Ingest", "Resolve", "GetProfile", "Erase", "Export"} <= methods
    ingested = _points(data, "idstitch.events.ingested")
    assert {p["idstitch.channel"] for p in ingested} == {"web", "app", "pos", "email"}
    assert sum(p["_value"] for p in _points(data, "idstitch.persons.merged")) >= 1
    assert {p["idstitch.rule"] for p in _points(data, "idstitch.links.refused")} >= {"unique_type"}
    assert sum(p["_value"] for p in _points(data, "idstitch.identifiers.marked_shared")) == 1
    assert _points(data, "idstitch.person.identifiers")
    assert sum(p["_value"] for p in _points(data, "idstitch.erasures")) == 1
    assert sum(p["_value"] for p in _points(data, "idstitch.events.suppressed")) == 1
    stores = {(p["db.system"], p["idstitch.store"]) for p in _points(data, "idstitch.store.duration")}
    assert {("sqlite", "graph"), ("sqlite", "profiles"), ("sqlite", "privacy")} <= stores


def test_logs_are_json_lines_with_the_trace_and_span_ids_and_no_exception_message():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    log = logging.getLogger("idstitch.test")
    log.addHandler(handler)
    log.propagate = False
    provider = TracerProvider()
    try:
        with provider.get_tracer("test").start_as_current_span("request") as span:
            log.warning("outside a failure")
            try:
                raise ValueError("quoted value ann@example.com")
            except ValueError:
                log.exception("a failure")
        log.warning("after the request")
    finally:
        log.removeHandler(handler)
    inside, failure, after = (json.loads(line) for line in out.getvalue().splitlines())
    ctx = span.get_span_context()
    assert (inside["trace_id"], inside["span_id"]) == (
        format(ctx.trace_id, "032x"),
        format(ctx.span_id, "016x"),
    )
    assert (
        inside["level"] == "WARNING"
        and inside["message"] == "outside a failure"
        and inside["time"].endswith("Z")
    )
    assert failure["error_type"] == "ValueError" and "ann@" not in out.getvalue()
    assert "trace_id" not in after


def test_no_identifier_value_raw_normalized_or_hashed_is_in_any_span_metric_or_log(collected):
    texts: list[str] = [collected["logs"]]  # type: ignore[list-item]
    for s in collected["spans"]:  # type: ignore[attr-defined]
        texts += [s.name, json.dumps(dict(s.attributes or {}), default=str), str(s.status.description)]
        texts += [e.name + json.dumps(dict(e.attributes or {}), default=str) for e in s.events]
    for rm in collected["metrics"].resource_metrics:  # type: ignore[attr-defined]
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                texts += [json.dumps(dict(p.attributes), default=str) for p in m.data.data_points]
    blob = "\n".join(texts).lower()
    assert "idstitch.v1.identityservice/ingest" in blob  # the search does see what was recorded
    needles = set()
    for _, value in IDENTIFIERS:
        needles |= {value.lower(), value.strip().lower()}
    needles |= {"+14155550199", "tele.metry@example.org"}
    for key in collected["keys"]:  # type: ignore[attr-defined]
        needles |= {key.lower(), key.split("#", 1)[-1].split(":", 1)[-1].lower()}
    leaks = sorted(n for n in needles if n in blob)
    assert not leaks, f"{len(leaks)} identifier value(s) found in telemetry"
