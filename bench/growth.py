"""Benchmark: ingest speed as the data grows. A labelled retail population (bench/accuracy.py's,
so it carries real traffic's shapes: churning cookies, apps, guest checkouts, late and duplicate
deliveries) goes through the API, one client, batches of 500, into a fresh server; every window
of events prints events/s, the server's CPU per event, its resident memory and the bytes it
wrote per event (WAL frames and checkpoints: page-level write amplification). At the end: bytes
on disk per event, per store file and, for the embedded stores, per table and index.

Run: .venv/bin/python -m bench.growth [--persons 20000] [--window 100000] [--neo4j] [--cassandra]
         [--run LABEL[=DIR][;KEY=VALUE...]]...

Each `--run` is a server measured one after the other by the same driver on the same population:
`DIR` a checkout to run it from (`git worktree add /tmp/old 522529f`; default this one), and
environment settings (`IDSTITCH_CHANGES__ENABLED=false`). Figures are printed only; nothing
here is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.accuracy import population
from bench.ingest_resolve import local_server, start_server
from idstitch.v1 import identity_service_pb2 as pb
from idstitch.v1 import identity_service_pb2_grpc as pb_grpc

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    label: str
    source: Path
    env: dict[str, str] = field(default_factory=dict)


def parse_runs(argv: Sequence[str]) -> tuple[argparse.Namespace, list[Run]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--per-person", type=int, default=50, help="events per person (the accuracy default)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=100_000, help="events per printed window")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many events (0: all)")
    ap.add_argument("--neo4j", action="store_true", help="the graph in a Neo4j (scripts/neo4j)")
    ap.add_argument("--cassandra", action="store_true", help="profiles, feed, records in a Cassandra")
    ap.add_argument(
        "--cassandra-heap",
        default="3g",
        help="the Cassandra node's maximum heap (scripts/cassandra's default of 1g, sized for the "
        "tests, fills before a million events and the node stalls in full collections)",
    )
    ap.add_argument("--keep", action="store_true", help="leave the data directories behind")
    ap.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="LABEL[=DIR][;KEY=VALUE...]",
        help="a server to measure: its label, the checkout it runs from (default: this one) and "
        "environment settings; several --run are measured one after the other",
    )
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent.parent
    runs = []
    for spec in args.run or ["main"]:
        head, *settings = spec.split(";")
        label, _, source = head.partition("=")
        env = dict(s.split("=", 1) for s in settings if s)
        runs.append(Run(label, Path(source).resolve() if source else here, env))
    return args, runs


def batches(events: list, size: int, limit: int) -> Iterator[pb.IngestRequest]:
    events = events[:limit] if limit else events
    for i in range(0, len(events), size):
        yield pb.IngestRequest(events=events[i : i + size])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def written_bytes(pid: int) -> int:
    """Bytes the process has handed to write() (its WAL frames and checkpoints, for the embedded
    stores): what page-level write amplification costs, beside the bytes the data occupies."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


def measure(
    run: Run,
    events: list,
    args: argparse.Namespace,
    neo4j: str | None,
    cassandra: str | None,
    homes: dict[str, str] | None = None,
) -> None:
    data = Path(tempfile.mkdtemp(prefix=f"idstitch-growth-{run.label}-"))
    proc, target = start_server(
        str(data), neo4j, auth=False, env=run.env, namespace=f"G{os.getpid()}x{time.time_ns()}",
        profiles=cassandra or "", source=str(run.source),
    )  # fmt: skip
    print(f"\n[{run.label}] {run.source} {' '.join(f'{k}={v}' for k, v in run.env.items())}", flush=True)
    print(
        f"{'events in':>10} {'events/s':>9} {'CPU µs/event':>13} {'RSS MB':>7} {'KiB written/event':>18}",
        flush=True,
    )
    done = mark = 0
    full: list[tuple[float, float]] = []
    """(events/s, CPU µs/event) of each window of `--window` events: a last, shorter window is
    printed but left out of the ratio, as a few thousand events say little on this machine."""
    try:
        with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
            stub = pb_grpc.IdentityServiceStub(ch)
            t0, c0, w0 = time.perf_counter(), cpu_seconds(proc.pid), written_bytes(proc.pid)
            for request in batches(events, args.batch, args.limit):
                send(stub, request)
                done += len(request.events)
                if done - mark >= args.window or done == (args.limit or len(events)):
                    t1, c1, w1 = time.perf_counter(), cpu_seconds(proc.pid), written_bytes(proc.pid)
                    n = done - mark
                    rate = n / (t1 - t0)
                    cpu = (c1 - c0) / n * 1e6
                    if n >= args.window:
                        full.append((rate, cpu))
                    kib = (w1 - w0) / n / 1024
                    print(f"{done:>10,} {rate:>9,.0f} {cpu:>13,.0f} "
                          f"{rss_mb(proc.pid):>7,.0f} {kib:>18,.1f}", flush=True)  # fmt: skip
                    t0, c0, w0, mark = t1, c1, w1, done
    finally:
        proc.terminate()
        proc.wait(60)
    if len(full) > 1:
        (first, _), (last, _) = full[0], full[-1]
        mean_cpu = sum(cpu for _, cpu in full) / len(full)
        print(f"[{run.label}] last full window / first window: {last / first:.2f}; "
              f"CPU µs/event over the {len(full)} full windows: {mean_cpu:,.0f}")  # fmt: skip
    report_disk(run.label, data, done)
    for name, home in (homes or {}).items():  # the JVM servers' own files, this run's and any before
        size = sum(p.stat().st_size for p in Path(home).rglob("*") if p.is_file())
        print(f"[{run.label}] {name}'s files: {size / max(done, 1):,.0f} B/event ({size / 2**20:,.0f} MB)")
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


def send(stub: pb_grpc.IdentityServiceStub, request: pb.IngestRequest, attempts: int = 20) -> None:
    """One batch, sent again while the server answers UNAVAILABLE (a store timed out: Ingest is
    idempotent by event id, so a retry completes it), as a client in production would."""
    for attempt in range(attempts):
        try:
            stub.Ingest(request, timeout=600)
            return
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or attempt == attempts - 1:
                raise
            print(f"    UNAVAILABLE ({e.details()}); sent again", flush=True)
            time.sleep(min(30.0, 0.5 * 2**attempt))


def report_disk(label: str, data: Path, events: int) -> None:
    files = sorted(
        p for p in data.iterdir() if p.is_file() and (p.suffix == ".db" or p.name.endswith("-wal"))
    )
    total = sum(p.stat().st_size for p in files)
    print(f"[{label}] bytes on disk per event: {total / max(events, 1):,.0f} "
          f"({total / 2**20:,.0f} MB for {events:,} events)")  # fmt: skip
    for p in files:
        size = p.stat().st_size
        print(f"    {p.name:<24} {size / max(events, 1):>8,.0f} B/event")
        if p.suffix == ".db":
            for name, pages in tables(p):
                print(f"        {name:<32} {pages / max(events, 1):>8,.0f} B/event")


def tables(db: Path) -> list[tuple[str, int]]:
    """Bytes per table and index (SQLite's dbstat), largest first."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            query = "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            rows = con.execute(query).fetchall()
    except sqlite3.Error:
        return []
    return [(str(n), int(s)) for n, s in rows if s >= 1 << 16]


def main(argv: Sequence[str] | None = None) -> None:
    args, runs = parse_runs(sys.argv[1:] if argv is None else argv)
    t = time.perf_counter()
    events = population(args.persons, args.per_person, args.seed).events
    print(f"population: {args.persons:,} persons, {len(events):,} deliveries "
          f"(built in {time.perf_counter() - t:.0f} s)")  # fmt: skip
    with ExitStack() as servers:
        homes: dict[str, str] = {}
        neo4j = cassandra = None
        if args.neo4j:
            started = servers.enter_context(local_server("neo4j"))
            neo4j, homes["neo4j"] = started.address, started.home
        if args.cassandra:
            os.environ["IDSTITCH_CASSANDRA_HEAP"] = args.cassandra_heap
            started = servers.enter_context(local_server("cassandra"))
            cassandra, homes["cassandra"] = started.address, started.home
        for run in runs:
            measure(run, events, args, neo4j, cassandra, homes)


if __name__ == "__main__":
    main()
