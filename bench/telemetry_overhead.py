"""Benchmark: what telemetry costs. Ingest events/s and Resolve p99 with telemetry off, then on
with OTLP export (gRPC) of traces and metrics to a local collector stand-in at 10% sampling and,
with --full-sampling, at 100%.

The stand-in is an OTLP receiver in this process that accepts and discards what it is sent (and
counts spans, to show export really happened). Figures are printed only.

The servers run side by side and their measurements are interleaved over several rounds:
in each, every server ingests the same new events (returning shoppers) and then answers Resolve.
Each round's ingest rate, Resolve p99 and server CPU time per call (a steadier measure of the cost
than a tail latency on a busy 2-core machine) are compared with telemetry off's in the same round;
the median of those ratios is printed, with the rounds. Another server without telemetry (the
control) is measured the same way: its ratios are what this machine's noise alone gives, the
yardstick for the others'.

Run: .venv/bin/python -m bench.telemetry_overhead [--persons 10000] [--calls 1000] [--rounds 3]
     [--rps 500]
Without --rps the 8 clients call as fast as each server answers: both cores stay busy and the p99
is mostly queueing, which magnifies any change in CPU per call and the machine's own drift. With
--rps they call at that rate in all, below saturation, as a page-render path is served.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import threading
from concurrent import futures
from contextlib import ExitStack
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as tpb

from bench.ingest_resolve import (
    add_load_option,
    cpu_ticks,
    ingest,
    measure,
    start_server,
    use_load_option,
    wait_quiet,
)
from bench.population import events
from idstitch.v1 import identity_service_pb2 as pb


class _Collector:
    """Keeps each export request's bytes and parses them only when asked: a stand-in that decoded
    spans as they came would take CPU from the server being measured, which a real collector on
    another machine does not."""

    def __init__(self) -> None:
        self._requests: list[bytes] = []
        self._lock = threading.Lock()

    def keep_spans(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        with self._lock:
            self._requests.append(request)
        return b""  # an empty ExportTraceServiceResponse

    def drop_metrics(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        return b""

    def spans(self) -> int:
        with self._lock:
            kept = list(self._requests)
        count = 0
        for raw in kept:
            req = tpb.ExportTraceServiceRequest.FromString(raw)
            count += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        return count


def collector() -> tuple[grpc.Server, int, _Collector]:
    """An OTLP/gRPC receiver for traces and metrics that answers every export with success."""
    server = grpc.server(futures.ThreadPoolExecutor(4))
    sink = _Collector()
    services = {
        "opentelemetry.proto.collector.trace.v1.TraceService": sink.keep_spans,
        "opentelemetry.proto.collector.metrics.v1.MetricsService": sink.drop_metrics,
    }
    server.add_generic_rpc_handlers(
        tuple(
            # No (de)serializers: the handler gets and returns raw bytes.
            grpc.method_handlers_generic_handler(name, {"Export": grpc.unary_unary_rpc_method_handler(fn)})
            for name, fn in services.items()
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port, sink


@dataclass
class Config:
    """One server under test and what was measured on it."""

    label: str
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    target: str = ""
    key: str = ""
    ingest_rates: list[float] = field(default_factory=list)
    """Events per second of each round's ingest."""
    p99s: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    """Server CPU time per Resolve call (all its threads, the SDK's export included), per round."""


def start(config: Config, data: str, batches: list[pb.IngestRequest]) -> None:
    config.proc, config.target = start_server(data, None, env=config.env)
    config.key = os.environ.get("IDSTITCH_API_KEY", "")
    ingest(config.target, batches, 2)


def measure_ingest(config: Config, batches: list[pb.IngestRequest]) -> None:
    os.environ["IDSTITCH_API_KEY"] = config.key
    config.ingest_rates.append(sum(len(b.events) for b in batches) / ingest(config.target, batches, 2))


def round_batches(persons: int, round_no: int) -> list[pb.IngestRequest]:
    """New events (own event ids) of the population's first shoppers: returning customers, whose
    events attach to persons and profiles that exist — the steady state of a live store."""
    evs = list(events(persons, 5, seed=100 + round_no))
    for e in evs:
        e.event_id = f"round{round_no}-{e.event_id}"
    return [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]


def measure_resolve(config: Config, calls: int, known: list[tuple[str, str]], rps: int) -> None:
    assert config.proc is not None
    os.environ["IDSTITCH_API_KEY"] = config.key  # the client processes take it from here
    ticks = os.sysconf("SC_CLK_TCK")
    before = cpu_ticks(config.proc.pid)
    _, r99 = measure(config.target, "resolve", 8, calls, known, rps)
    used = (cpu_ticks(config.proc.pid) - before) / ticks
    config.p99s.append(r99)
    n = 8 * (calls + 50)  # measure() also makes 50 warm-up calls
    config.cpu_us.append(used / n * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=10000)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3, help="Resolve measurements per server, interleaved")
    ap.add_argument(
        "--rps",
        type=int,
        default=0,
        help="Resolve calls per second in all (0: as fast as each server answers, which saturates it)",
    )
    ap.add_argument("--full-sampling", action="store_true", help="also a server sampling every trace")
    ap.add_argument(
        "--no-control",
        action="store_true",
        help="leave out the second telemetry-off server, whose ratios show the measurement's own noise",
    )
    add_load_option(ap)
    args = ap.parse_args()
    use_load_option(args)
    evs = list(events(args.persons, 5))
    batches = [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]
    known = sorted({(i.type, i.value) for e in evs[::7] for i in e.identifiers if i.type == "customer_id"})
    server, port, sink = collector()
    otlp = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    }
    configs = [
        Config("telemetry off", {}),
        Config("OTLP export, sampling 10%", {**otlp, "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
    ]
    if args.full_sampling:
        configs.append(Config("OTLP export, sampling 100%", {**otlp, "OTEL_TRACES_SAMPLER_ARG": "1.0"}))
    if not args.no_control:
        configs.append(Config("telemetry off (control)", {}))
    with ExitStack() as stack:
        stack.callback(server.stop, 0)
        for c in configs:
            start(
                c,
                stack.enter_context(tempfile.TemporaryDirectory(prefix="idstitch-bench-otel-")),
                batches,
            )
            stack.callback(_stop, c)
        # Rounds interleave the servers in a new order each time, so a slow spell of this machine
        # hits all of them alike; each measurement starts once every server is quiet (a server
        # that sampled everything goes on exporting after its round).
        order = random.Random(7)
        for round_no in range(args.rounds):
            more = round_batches(args.persons // 2, round_no)
            for c in order.sample(configs, len(configs)):
                _wait_quiet(configs)
                measure_ingest(c, more)
                _wait_quiet(configs)
                measure_resolve(c, args.calls, known, args.rps)
    base = configs[0]
    for c in configs:
        print(
            f"{c.label:<28} ingest {_paired(c.ingest_rates, base.ingest_rates)} (events/s by round: "
            + ", ".join(f"{x:,.0f}" for x in c.ingest_rates)
            + ")  "
            f"resolve p99 {_paired(c.p99s, base.p99s)} (ms by round: "
            + ", ".join(f"{x:.1f}" for x in c.p99s)
            + f")  server CPU/call {_paired(c.cpu_us, base.cpu_us)} (us by round: "
            + ", ".join(f"{x:.0f}" for x in c.cpu_us)
            + ")"
        )
    print(f"spans received by the collector: {sink.spans():,}")


def _wait_quiet(configs: list[Config]) -> None:
    """Until no server uses more than 5% of a core over half a second."""
    wait_quiet([c.proc.pid for c in configs if c.proc], share=0.05, window=0.5, limit=30)


def _paired(values: list[float], base: list[float]) -> str:
    """The median of a configuration's rounds against telemetry off in the same round. A round
    measures every server within a minute or two, so a slow spell of the machine (one
    configuration's rounds differed by up to 24% in one run) cancels out of each ratio."""
    ratios = sorted(v / b - 1 for v, b in zip(values, base, strict=True))
    spread = f"rounds {ratios[0]:+.1%} to {ratios[-1]:+.1%}"
    return f"{statistics.median(ratios):+.1%} (median of {len(ratios)} {spread})"


def _stop(config: Config) -> None:
    if config.proc is not None:
        config.proc.terminate()
        config.proc.wait()


if __name__ == "__main__":
    main()
