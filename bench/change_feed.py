"""Benchmark: the change feed beside ingest. Ingests a population (batches of 500, 2 clients)
into a fresh server three times — feed off, feed on with no watcher, feed on with one watcher
reading from a process of its own — and prints ingest events/s of each (the middle and last as a
share of the first and second), the watcher's lag from a change's recording to its delivery
(p50/p99; recording is right after the batch's commit), and the feed's storage per 1,000 events.

Run: .venv/bin/python -m bench.change_feed [--persons 10000] [--cassandra] [--rounds 1]
With --cassandra the profiles, and so the feed, are in a Cassandra node started by
scripts/cassandra/cassandra. Figures are printed only.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc

from bench.ingest_resolve import LocalServer, connect, ingest, local_server, start_server
from bench.population import events
from idstitch.v1 import change_service_pb2 as cpb
from idstitch.v1 import change_service_pb2_grpc as cpb_grpc
from idstitch.v1 import identity_service_pb2 as pb


def _watch(target: str, key: str, out: Any, ready: Any, stop: Any) -> None:
    """Reads the feed from now and reports each change's lag (receive time minus `at`), in ms."""
    os.environ["IDSTITCH_API_KEY"] = key
    lags: list[float] = []
    with connect(target) as ch:
        stream = cpb_grpc.ChangeServiceStub(ch).Watch(cpb.WatchRequest())
        threading.Thread(target=lambda: (stop.wait(), stream.cancel()), daemon=True).start()
        ready.set()
        try:
            for response in stream:
                now = time.time() * 1000
                lags += [now - (c.at.seconds * 1000 + c.at.nanos / 1e6) for c in response.changes]
        except grpc.RpcError:
            pass  # cancelled: the run is over
    out.put(lags)


def run_once(label: str, data: str, batches: list[pb.IngestRequest], profiles: LocalServer | None,
             feed: bool, watcher: bool) -> tuple[float, list[float], int]:  # fmt: skip
    env = {"IDSTITCH_CHANGES__ENABLED": "true" if feed else "false"}
    proc, target = start_server(data, None, profiles=profiles.address if profiles else "", env=env)
    lags: list[float] = []
    try:
        ctx = mp.get_context("spawn")
        queue, ready, stop = ctx.Queue(), ctx.Event(), ctx.Event()
        watch = None
        if watcher:
            watch = ctx.Process(
                target=_watch, args=(target, os.environ["IDSTITCH_API_KEY"], queue, ready, stop)
            )
            watch.start()
            ready.wait(30)
            time.sleep(0.5)
        secs = ingest(target, batches, 2)
        if watch is not None:
            time.sleep(2.0)  # the last changes arrive
            stop.set()
            lags = queue.get(timeout=60)
            watch.join(30)
    finally:
        proc.terminate()
        proc.wait()
    size = sum(f.stat().st_size for f in Path(data).glob("changes.db*"))
    n = sum(len(b.events) for b in batches)
    print(f"[{label}] ingest {n:,} events: {n / secs:,.0f} events/s ({'feed on' if feed else 'feed off'}, "
          f"{'one watcher' if watcher else 'no watcher'})")  # fmt: skip
    return n / secs, lags, size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=10000)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--cassandra", action="store_true")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    evs = list(events(args.persons, args.per_person))
    batches = [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]
    with ExitStack() as stack:
        cassandra = stack.enter_context(local_server("cassandra")) if args.cassandra else None
        label = "cassandra" if cassandra else "sqlite"
        for r in range(args.rounds):
            rates, lags, size = [], [], 0
            for feed, watcher in ((False, False), (True, False), (True, True)):
                with tempfile.TemporaryDirectory(prefix="idstitch-bench-feed-") as data:
                    rate, got, stored = run_once(f"{label} r{r + 1}", data, batches, cassandra, feed, watcher)
                    rates.append(rate)
                    lags += got
                    size = max(size, stored)
            print(f"[{label} r{r + 1}] feed on / off: {rates[1] / rates[0]:.1%}; "
                  f"one watcher / none: {rates[2] / rates[1]:.1%}")  # fmt: skip
            if len(lags) > 100:
                q = statistics.quantiles(lags, n=100)
                print(f"[{label} r{r + 1}] lag from recording to delivery, {len(lags):,} changes: "
                      f"p50 {q[49]:.0f} ms  p99 {q[98]:.0f} ms")  # fmt: skip
            if not size:
                print(f"[{label} r{r + 1}] feed storage: not measured here (in Cassandra)")
            else:
                print(f"[{label} r{r + 1}] feed storage: {size / 1024:,.0f} KiB for {len(evs):,} events = "
                      f"{size / len(evs) * 1000 / 1024:,.1f} KiB per 1,000 events")  # fmt: skip


if __name__ == "__main__":
    main()
