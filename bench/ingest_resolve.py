"""Benchmark: ingest throughput through the API (batches of 500; stitching and profile folding)
on the embedded stores, then Resolve and GetProfile p50/p99 at 8 concurrent clients beside the
same server's health-check floor, and the size of the profile of a person with 10,000 events.

Run: .venv/bin/python -m bench.ingest_resolve [--persons 20000] [--per-person 5] [--neo4j] [--cassandra]
With --neo4j the same run is repeated against a Neo4j started by scripts/neo4j/neo4j; with
--cassandra, with profiles in a Cassandra node started by scripts/cassandra/cassandra (and the graph
embedded, or in that Neo4j too with --neo4j).
The server runs in its own process; clients run in other processes: ghz (scripts/ghz) measures
latency unless --load python asks for Python client processes. Figures are printed only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.ghz_load import measure_ghz
from bench.population import events, heavy_person
from idstitch.channels import find_key, with_key
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc
from idstitch.v1 import profile_service_pb2 as ppb
from idstitch.v1 import profile_service_pb2_grpc as ppb_grpc


def start_server(
    data_dir: str,
    graph_uri: str | None,
    *,
    auth: bool = True,
    env: dict[str, str] | None = None,
    namespace: str = "Bench",
    profiles: str = "",
    source: str | None = None,
) -> tuple[subprocess.Popen, str]:
    """`profiles`: host:port of a Cassandra node for the profiles ("" : embedded). `source`: a
    checkout to run the server from (default: this one)."""
    config = os.path.join(data_dir, "idstitch.yaml")
    with open(config, "w") as f:
        if graph_uri:
            f.write(f"graph: {{type: neo4j, uri: '{graph_uri}', namespace: {namespace}}}\n")
        if profiles:
            host, port = profiles.rsplit(":", 1)
            f.write(
                f"profiles: {{type: cassandra, contact_points: ['{host}'], port: {port}, "
                f"namespace: b{random.getrandbits(48):x}}}\n"
            )
        f.write(f"auth: {{enabled: {str(auth).lower()}}}\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--config",
            config,
            "--port",
            "0",
            "--data-dir",
            data_dir,
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=source,
        env={**os.environ, "IDSTITCH_LOG_LEVEL": "WARNING", **_from(source), **(env or {})},
    )
    line = ""
    while "listening on " not in line:  # the first start also reports where the admin key went
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the server did not start")
    # Client processes (spawned later) inherit the key through the environment.
    key_file = os.path.join(data_dir, "admin.key")
    if auth and os.path.exists(key_file):
        with open(key_file) as f:
            os.environ["IDSTITCH_API_KEY"] = f.read().strip()
    return proc, line.split("listening on ", 1)[1].split()[0]


def _from(source: str | None) -> dict[str, str]:
    """The environment that makes a server process import another checkout's code."""
    if source is None:
        return {}
    path = [source, os.path.join(source, "client"), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(path)}


def connect(target: str) -> grpc.Channel:
    return with_key(grpc.insecure_channel(target), find_key())


def ingest(target: str, batches: list[pb.IngestRequest], clients: int) -> float:
    with connect(target) as ch:
        stub = pb_grpc.IdentityServiceStub(ch)
        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(stub.Ingest, batches))
        return time.perf_counter() - start


def _latencies(args: tuple[str, str, int, int, list[tuple[str, str]]]) -> list[float]:
    target, kind, calls, seed, known = args
    rng = random.Random(seed)
    out = []
    with connect(target) as ch:
        if kind == "health":
            stub = health_pb2_grpc.HealthStub(ch)
            call, make = stub.Check, lambda: health_pb2.HealthCheckRequest()
        elif kind == "profile":
            pstub = ppb_grpc.ProfileServiceStub(ch)
            call = pstub.GetProfile
            make = lambda: ppb.GetProfileRequest(key=ppb.ProfileKey(identifier=_ident(rng.choice(known))))  # noqa: E731
        else:
            stub = pb_grpc.IdentityServiceStub(ch)
            call = stub.Resolve
            make = lambda: pb.ResolveRequest(identifier=_ident(rng.choice(known)))  # noqa: E731
        for _ in range(50):  # warm up the connection
            call(make())
        for _ in range(calls):
            req = make()
            t = time.perf_counter()
            try:
                call(req)
            except grpc.RpcError as e:  # gRPC's error does not pickle back to the parent
                raise RuntimeError(f"{kind}: {e.code().name}: {e.details()}") from None
            out.append(time.perf_counter() - t)
    return out


def _ident(pair: tuple[str, str]) -> ev_pb.Identifier:
    return ev_pb.Identifier(type=pair[0], value=pair[1])


LOAD_GENERATORS = ("ghz", "python")
load_generator = "ghz"
"""Which clients measure latency: ghz (bench/ghz_load.py), or Python client processes."""


def measure(
    target: str,
    kind: str,
    clients: int,
    calls: int,
    known: list[tuple[str, str]] | None = None,
    rps: int = 0,
    once: bool = False,
) -> tuple[float, float]:
    """p50 and p99 in ms of `clients` concurrent clients making `calls` calls each (with `rps`, at
    that rate in all; ghz only; `once`: each key asked at most once)."""
    if load_generator == "ghz":
        return measure_ghz(target, kind, clients, calls, known, find_key() or "", rps, once)
    if rps:
        raise ValueError("a fixed call rate needs --load ghz")
    jobs = [(target, kind, calls, i, known or []) for i in range(clients)]
    with mp.get_context("spawn").Pool(clients) as pool:
        lat = [x for part in pool.map(_latencies, jobs) for x in part]
    q = statistics.quantiles(lat, n=100)
    return q[49] * 1000, q[98] * 1000


def warm_up(graph_uri: str, count: int) -> None:
    """A fresh Neo4j runs its first minute on a cold JIT and page cache; a server in production is
    warm. This ingests `count` events of another population into a namespace of their own."""
    warm = list(events(count // 5, 5, seed=99))
    with tempfile.TemporaryDirectory(prefix="idstitch-bench-warm-") as data:
        proc, target = start_server(data, graph_uri, namespace="Warmup")
        try:
            secs = ingest(
                target, [pb.IngestRequest(events=warm[i : i + 500]) for i in range(0, len(warm), 500)], 2
            )
            print(
                f"[neo4j] warm-up: {len(warm):,} events into another namespace "
                f"({len(warm) / secs:,.0f} events/s)"
            )
        finally:
            proc.terminate()
            proc.wait()


def run(
    label: str,
    args: argparse.Namespace,
    graph_uri: str | None,
    profiles: LocalServer | None = None,
    namespace: str = "Bench",
    env: dict[str, str] | None = None,
) -> None:
    evs = list(events(args.persons, args.per_person))
    batches = [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]
    if graph_uri and args.warmup:
        warm_up(graph_uri, args.warmup)
    with tempfile.TemporaryDirectory(prefix="idstitch-bench-") as data:
        proc, target = start_server(
            data, graph_uri, profiles=profiles.address if profiles else "", namespace=namespace, env=env
        )
        try:
            secs = ingest(target, batches, args.ingest_clients)
            if profiles:
                waited = profiles.wait_idle()
                print(f"[{label}] waited {waited:.0f} s for Cassandra to finish compacting after the ingest")
            if args.compare_auth:
                with tempfile.TemporaryDirectory(prefix="idstitch-bench-noauth-") as bare:
                    proc2, target2 = start_server(bare, graph_uri, auth=False)
                    try:
                        bare_secs = ingest(target2, batches, args.ingest_clients)
                    finally:
                        proc2.terminate()
                        proc2.wait()
                print(
                    f"[{label}] ingest with auth off: {len(evs) / bare_secs:,.0f} events/s; with auth on: "
                    f"{len(evs) / secs:,.0f} events/s (on = {bare_secs / secs:.0%} of off)"
                )
            print(
                f"[{label}] ingest: {len(evs)} events in {len(batches)} batches of 500, "
                f"{args.ingest_clients} clients: {secs:.2f} s = {len(evs) / secs:,.0f} events/s"
            )
            h50, h99 = measure(target, "health", 8, args.calls)
            # Resolve identifiers that were ingested and name one person (not shared, not junk).
            known = sorted(
                {
                    (i.type, i.value)
                    for e in evs[::2]
                    for i in e.identifiers
                    if i.type in ("customer_id", "email", "loyalty_number")
                }
            )
            random.Random(1).shuffle(known)
            # The saturated figures ask 2,600 keys again and again; the fixed-rate ones ask keys
            # never asked before, each once (first reads: the stores' case), then the same keys
            # again at once (a visit's next page views: the read cache's case).
            known, first_reads = known[:2600], known[2600:]
            r50, r99 = measure(target, "resolve", 8, args.calls, known)
            g50, g99 = measure(target, "profile", 8, args.calls, known)
            print(f"[{label}] health check (floor), 8 clients: p50 {h50:.2f} ms  p99 {h99:.2f} ms")
            for name, p50, p99 in (("resolve", r50, r99), ("get_profile", g50, g99)):
                print(
                    f"[{label}] {name + ',':<12} 8 clients:       p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                    f"(p99 = {p99 / h99:.2f}x floor p99)"
                )
            if args.rate and load_generator == "ghz":
                at_rate(label, target, first_reads, args.rate, args.rate_seconds)
            batch_calls(label, target, known)
            profile_size(label, target, data)
        finally:
            proc.terminate()
            proc.wait()


def at_rate(label: str, target: str, first_reads: list[tuple[str, str]], rps: int, seconds: int) -> None:
    """p99 below saturation: calls at a fixed rate, where a call's latency is its own work rather
    than the queue of a saturated machine, beside the health check at the same rate. Per kind:
    keys never asked (`first_reads`, each once), then the same keys again right after."""
    calls = max(rps * seconds // 8, 50)
    h50, h99 = measure(target, "health", 8, calls, rps=rps)
    print(f"[{label}] at {rps} calls/s: health check (floor) p50 {h50:.2f} ms  p99 {h99:.2f} ms")
    half = len(first_reads) // 2  # each kind its own keys
    phases = [
        ("first reads", "resolve", first_reads[:half], True),
        ("asked again", "resolve", first_reads[:half], True),
        ("first reads", "profile", first_reads[half:], True),
        ("asked again", "profile", first_reads[half:], True),
    ]
    for asked, kind, keys, once in phases:
        name = "get_profile" if kind == "profile" else kind
        p50, p99 = measure(target, kind, 8, calls, keys, rps=rps, once=once)
        if once and len(keys) < 8 * (calls + 50):
            print(f"[{label}] ({len(keys)} first-read keys for {8 * (calls + 50)} calls: some asked twice)")
        print(
            f"[{label}] at {rps} calls/s: {name + ',':<12} {asked + ',':<13} p50 {p50:.2f} ms  "
            f"p99 {p99:.2f} ms  (p99 = {p99 / h99:.2f}x floor p99)"
        )


def batch_calls(label: str, target: str, known: list[tuple[str, str]], size: int = 500) -> None:
    """The time of one BatchResolve and one BatchGetProfiles of `size` keys (median of 5)."""
    rng = random.Random(1)
    idents = [_ident(rng.choice(known)) for _ in range(size)]
    with connect(target) as ch:
        resolve = pb_grpc.IdentityServiceStub(ch).BatchResolve
        profiles = ppb_grpc.ProfileServiceStub(ch).BatchGetProfiles
        calls = (
            ("BatchResolve", lambda: resolve(pb.BatchResolveRequest(identifiers=idents))),
            (
                "BatchGetProfiles",
                lambda: profiles(
                    ppb.BatchGetProfilesRequest(keys=[ppb.ProfileKey(identifier=i) for i in idents])
                ),
            ),
        )
        for name, call in calls:
            call()  # warm
            times = []
            for _ in range(5):
                t = time.perf_counter()
                call()
                times.append(time.perf_counter() - t)
            print(f"[{label}] {name} of {size} keys: {statistics.median(times) * 1000:.1f} ms (median of 5)")


def profile_size(label: str, target: str, data_dir: str) -> None:
    """Ingests 10,000 events of one person and prints how big their profile is."""
    heavy = list(heavy_person(10_000))
    with connect(target) as ch:
        stub = pb_grpc.IdentityServiceStub(ch)
        for i in range(0, len(heavy), 500):
            stub.Ingest(pb.IngestRequest(events=heavy[i : i + 500]))
        resp = ppb_grpc.ProfileServiceStub(ch).GetProfile(
            ppb.GetProfileRequest(key=ppb.ProfileKey(identifier=_ident(("customer_id", "C-HEAVY"))))
        )
    stored = ""
    db = os.path.join(data_dir, "profiles.db")
    if os.path.exists(db):
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT length(state) FROM profiles WHERE person_id = ?", (resp.profile.person_id,)
            )
            stored = f", stored state {row.fetchone()[0]:,} bytes"
    print(
        f"[{label}] profile of a person with {resp.profile.context.events:,} events: "
        f"GetProfile response {resp.ByteSize():,} bytes{stored}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--ingest-clients", type=int, default=2)
    ap.add_argument("--calls", type=int, default=2000, help="calls per client for latency figures")
    ap.add_argument("--neo4j", action="store_true", help="also run against Neo4j started by scripts/neo4j")
    ap.add_argument("--only-neo4j", action="store_true", help="the Neo4j run alone")
    ap.add_argument(
        "--warmup",
        type=int,
        default=20000,
        help="events ingested into Neo4j before the measured run (0: measure a cold node)",
    )
    ap.add_argument(
        "--cassandra", action="store_true", help="also run with profiles in Cassandra (scripts/cassandra)"
    )
    add_load_option(ap)
    ap.add_argument("--rate", type=int, default=500, help="calls/s of the below-saturation figures (0: none)")
    ap.add_argument("--rate-seconds", type=int, default=8, help="seconds of calls at --rate per figure")
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated runs to make, of sqlite, neo4j, sqlite+cassandra, neo4j+cassandra",
    )
    ap.add_argument("--compare-auth", action="store_true", help="also ingest into a server with auth off")
    ap.add_argument(
        "--feed-pairs",
        type=int,
        default=0,
        help="make each run N times with the change feed off, then on, alternating (0: once, as configured)",
    )
    ap.add_argument(
        "--cache-pairs",
        type=int,
        default=0,
        help="make each run N times with the read cache off, then on, alternating (0: once, as configured)",
    )
    args = ap.parse_args()
    use_load_option(args)

    with ExitStack() as servers:
        neo4j = servers.enter_context(local_server("neo4j")) if args.neo4j or args.only_neo4j else None
        uri = neo4j.address if neo4j else None
        cassandra = servers.enter_context(local_server("cassandra")) if args.cassandra else None
        wanted = set(filter(None, args.only.split(",")))

        def chosen(name: str) -> bool:
            return not wanted or name in wanted

        def runs(
            label: str, graph: str | None, profiles: LocalServer | None = None, ns: str = "Bench"
        ) -> None:
            if not args.feed_pairs and not args.cache_pairs:
                run(label, args, graph, profiles, namespace=ns)
            for n in range(args.cache_pairs):
                for cache in ("off", "on"):
                    env = {"IDSTITCH_READ_CACHE__ENABLED": "true" if cache == "on" else "false"}
                    run(
                        f"{label}, cache {cache}",
                        args,
                        graph,
                        profiles,
                        namespace=f"{ns}{n}c{cache}",
                        env=env,
                    )
            for n in range(args.feed_pairs):
                for feed in ("off", "on"):
                    env = {"IDSTITCH_CHANGES__ENABLED": "true" if feed == "on" else "false"}
                    run(f"{label}, feed {feed}", args, graph, profiles, namespace=f"{ns}{n}{feed}", env=env)

        if not args.only_neo4j and chosen("sqlite"):
            runs("sqlite", None)
        if uri and chosen("neo4j"):
            runs("neo4j", uri)
        if cassandra:
            if chosen("sqlite+cassandra"):
                runs("sqlite+cassandra", None, cassandra)
            if uri and chosen("neo4j+cassandra"):
                runs("neo4j+cassandra", uri, cassandra, ns="BenchC")


def add_load_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--load",
        choices=LOAD_GENERATORS,
        default="ghz",
        help="latency clients: ghz (built by scripts/ghz; needs Go) or Python client processes",
    )


def use_load_option(args: argparse.Namespace) -> None:
    global load_generator
    load_generator = args.load
    print(f"latency measured by {args.load} clients")


@dataclass(frozen=True)
class LocalServer:
    address: str
    """What its start script printed: a URI or host:port."""
    pid: int
    home: str = ""
    """The directory its start script keeps the server's files in."""

    def wait_idle(self, limit: float = 120.0) -> float:
        """Waits until the compactions an ingest leaves behind are done; returns the seconds waited."""
        return wait_quiet([self.pid], share=0.1, window=1.0, limit=limit)


def wait_quiet(pids: list[int], *, share: float, window: float, limit: float) -> float:
    """Waits (at most `limit` seconds) until none of the processes uses more than `share` of a
    core over `window` seconds; returns the seconds waited."""
    start = time.monotonic()
    ticks = os.sysconf("SC_CLK_TCK")
    while time.monotonic() - start < limit:
        before = [cpu_ticks(p) for p in pids]
        time.sleep(window)
        used = [cpu_ticks(p) - b for p, b in zip(pids, before, strict=True)]
        if max(used) / ticks < share * window:
            break
    return time.monotonic() - start


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@contextmanager
def local_server(name: str) -> Iterator[LocalServer]:
    """A server started by scripts/NAME/NAME in a temporary directory."""
    home = tempfile.mkdtemp(prefix=f"idstitch-bench-{name}-")
    script = os.path.join(os.path.dirname(__file__), "..", "scripts", name, name)
    out = subprocess.run([script, "start", home], check=True, capture_output=True, text=True)
    try:
        with open(os.path.join(home, "pid")) as f:
            yield LocalServer(out.stdout.split()[-1], int(f.read().strip()), home)
    finally:
        subprocess.run([script, "stop", home], check=False)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
