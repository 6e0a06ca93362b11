"""Telemetry as an operator switches it on: `idstitch serve` with OTEL_* variables and OTLP/gRPC
export to a collector stand-in in this test. What arrives over the wire is
checked — spans, metrics, the resource — and searched for every identifier value of the data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb

from idstitch.channels import with_key
from server.bootstrap import build_identity_service
from server.config import load_settings
from tests.servers import IdstitchProcess
from tests.telemetry_workload import IDENTIFIERS, TRACE_ID, exercise

pytestmark = pytest.mark.e2e

SECRET = "telemetry-export-test-secret-0123456789"


class Collector:
    """An OTLP/gRPC receiver that keeps every export request it is sent."""

    def __init__(self) -> None:
        self.traces: list[tpb.ExportTraceServiceRequest] = []
        self.metrics: list[mpb.ExportMetricsServiceRequest] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(2))
        handlers = {
            "opentelemetry.proto.collector.trace.v1.TraceService": self._keep(
                self.traces, tpb.ExportTraceServiceRequest
            ),
            "opentelemetry.proto.collector.metrics.v1.MetricsService": self._keep(
                self.metrics, mpb.ExportMetricsServiceRequest
            ),
        }
        self.server.add_generic_rpc_handlers(
            tuple(
                grpc.method_handlers_generic_handler(
                    name, {"Export": grpc.unary_unary_rpc_method_handler(fn)}
                )
                for name, fn in handlers.items()
            )
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _keep(self, into: list, message: type):  # type: ignore[no-untyped-def]
        def export(request: bytes, context: grpc.ServicerContext) -> bytes:
            with self._lock:
                self.raw.append(request)
                into.append(message.FromString(request))
            return b""  # an empty Export*ServiceResponse: all accepted

        return export

    def spans(self) -> list[tuple[str, object]]:
        """(service.name, span) for every span received."""
        out = []
        for req in self.traces:
            for rs in req.resource_spans:
                service = {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"]
                out += [(service, s) for ss in rs.scope_spans for s in ss.spans]
        return out

    def metric_points(self, name: str) -> list[object]:
        return [
            p
            for req in self.metrics
            for rm in req.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == name
            for p in (m.sum.data_points if m.HasField("sum") else m.histogram.data_points)
        ]


@pytest.fixture()
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.server.stop(0)


def _serve(tmp_path: Path, collector: Collector) -> IdstitchProcess:
    cfg = tmp_path / "idstitch.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'data'}\nhmac_secret: {SECRET}\n")
    return IdstitchProcess(
        cfg,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_SERVICE_NAME": "idstitch-export-test",
            "OTEL_TRACES_SAMPLER": "always_on",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        },
    )


def test_a_served_run_reaches_the_collector_with_its_traces_metrics_and_no_identifier_value(
    tmp_path: Path, collector: Collector
):
    server = _serve(tmp_path, collector)
    try:
        with grpc.insecure_channel(server.target) as raw:
            exercise(with_key(raw, server.key or ""))
    finally:
        server.stop()  # SIGTERM: the server drains and the SDK flushes what it holds

    spans = collector.spans()
    assert {service for service, _ in spans} == {"idstitch-export-test"}
    by_id = {s.span_id: s for _, s in spans}
    [ingest] = [s for _, s in spans if s.trace_id.hex() == TRACE_ID and s.name.endswith("/Ingest")]
    assert ingest.parent_span_id == bytes.fromhex("00f067aa0ba902b7")  # the caller's span
    stitch = next(s for _, s in spans if s.name == "idstitch.stitch" and s.parent_span_id == ingest.span_id)
    assert {a.key: a.value.int_value for a in stitch.attributes}["idstitch.batch.size"] == 8
    store_call = next(s for _, s in spans if s.name == "graph.stitch" and s.trace_id == ingest.trace_id)
    assert by_id[store_call.parent_span_id].trace_id == ingest.trace_id
    names = {s.name for _, s in spans}
    assert {"idstitch.v1.IdentityService/Resolve", "idstitch.erase", "idstitch.profile.fold"} <= names

    rpc = collector.metric_points("rpc.server.duration")
    methods = {a.value.string_value for p in rpc for a in p.attributes if a.key == "rpc.method"}
    assert {"Ingest", "Resolve", "GetProfile", "Erase", "Export"} <= methods
    ingested = collector.metric_points("idstitch.events.ingested")
    channels = {a.value.string_value for p in ingested for a in p.attributes if a.key == "idstitch.channel"}
    assert channels == {"web", "app", "pos", "email"}
    assert sum(p.as_int for p in collector.metric_points("idstitch.erasures")) == 1

    blob = b"\n".join(collector.raw).lower()
    assert b"idstitch.v1.identityservice/ingest" in blob  # the search does see what was exported
    view = build_identity_service(load_settings(data_dir=tmp_path / "view", hmac_secret=SECRET))
    needles = {value.lower() for _, value in IDENTIFIERS} | {"+14155550199", "tele.metry@example.org"}
    for type_name, value in IDENTIFIERS:
        key = view.key_of(type_name, value)
        if not isinstance(key, str):
            needles |= {key.key.lower(), key.key.split("#", 1)[-1].split(":", 1)[-1].lower()}
    leaks = sorted(n for n in needles if n.encode() in blob)
    assert not leaks, f"{len(leaks)} identifier value(s) found in what was exported"
