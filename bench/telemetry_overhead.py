"""Benchmark: what telemetry costs. Ingest events/s and Resolve p99 with telemetry off, then on
with OTLP export (gRPC) of traces and metrics to a local collector stand-in, sampling 100% and 10%.

The stand-in is an OTLP receiver in this process that accepts and discards what it is sent (and
counts spans, to show export really happened). Figures are printed only.

Run: .venv/bin/python -m bench.telemetry_overhead [--persons 10000] [--calls 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as mgrpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as tgrpc

from bench.ingest_resolve import ingest, measure, start_server
from bench.population import events
from idstitch.v1 import identity_service_pb2 as pb


class _Collector(tgrpc.TraceServiceServicer, mgrpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.spans = 0
        self._lock = threading.Lock()

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, tpb.ExportTraceServiceRequest):
            n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with self._lock:
                self.spans += n
            return tpb.ExportTraceServiceResponse()
        return mpb.ExportMetricsServiceResponse()


class _Metrics(mgrpc.MetricsServiceServicer):
    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:
        return mpb.ExportMetricsServiceResponse()


def collector() -> tuple[grpc.Server, int, _Collector]:
    server = grpc.server(futures.ThreadPoolExecutor(4))
    sink = _Collector()
    tgrpc.add_TraceServiceServicer_to_server(sink, server)
    mgrpc.add_MetricsServiceServicer_to_server(_Metrics(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, sink


def run(label: str, args: argparse.Namespace, env: dict[str, str], batches: list[pb.IngestRequest], n: int,
        known: list[tuple[str, str]]) -> tuple[float, float]:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="idstitch-bench-otel-") as data:
        proc, target = start_server(data, None, env=env)
        try:
            secs = ingest(target, batches, 2)
            _, r99 = measure(target, "resolve", 8, args.calls, known)
        finally:
            proc.terminate()
            proc.wait()
    print(f"{label:<34} ingest {n / secs:8,.0f} events/s   resolve p99 {r99:6.2f} ms")
    return n / secs, r99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=10000)
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()
    evs = list(events(args.persons, 5))
    batches = [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]
    known = sorted({(i.type, i.value) for e in evs[::7] for i in e.identifiers if i.type == "customer_id"})
    server, port, sink = collector()
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
    }
    try:
        base = run("telemetry off", args, {}, batches, len(evs), known)
        for ratio in ("1.0", "0.1"):
            before = sink.spans
            env = {
                **otlp,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": ratio,
            }
            on = run(f"OTLP export, sampling {float(ratio):.0%}", args, env, batches, len(evs), known)
            print(
                f"{'':<34} ingest {on[0] / base[0] - 1:+.1%}, resolve p99 {on[1] / base[1] - 1:+.1%} "
                f"vs off; {sink.spans - before:,} spans received by the collector"
            )
    finally:
        server.stop(0)


if __name__ == "__main__":
    main()
