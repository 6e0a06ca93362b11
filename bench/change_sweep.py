"""Benchmark: what one round of the change feed's sweeper costs on a population with segments.
Ingests a population (its events re-timed to end a day ago, over about two days) through a
server on the embedded stores with three segment rules, then opens the same data in this process
and times sweeper rounds — now, and at a moment five days on, when "recent" (seen in the last 7
days) has turned for part of the population: how many persons a round observes, and how long it
takes. Prints the number of persons in a segment beside it — what a sweeper that re-observed
every person in a segment would look at each round.

Run: .venv/bin/python -m bench.change_sweep [--persons 20000]
Figures are printed only.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.ingest_resolve import ingest, start_server
from bench.population import events
from idstitch.v1 import identity_service_pb2 as pb
from server.bootstrap import build_system
from server.config import load_settings

SEGMENTS = {
    "recent": "context.days_since_last_seen < 7",
    "lapsed": "context.days_since_last_seen > 30",
    "fans": "affinity.category.cat-03 > 0.2",
}
DAY = 86_400


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--per-person", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    evs = list(events(args.persons, args.per_person))
    last = max(e.occurred_at.seconds for e in evs)
    shift = int(time.time()) - DAY - last
    for e in evs:
        e.occurred_at.seconds += shift
    batches = [pb.IngestRequest(events=evs[i : i + 500]) for i in range(0, len(evs), 500)]
    rules = {"segments": SEGMENTS}
    with tempfile.TemporaryDirectory(prefix="idstitch-bench-sweep-") as data:
        env = {"IDSTITCH_PROFILE_RULES": json.dumps(rules), "IDSTITCH_CHANGES__SWEEP_SECONDS": "3600"}
        proc, target = start_server(data, None, auth=False, env=env)
        try:
            secs = ingest(target, batches, 2)
        finally:
            proc.terminate()
            proc.wait()
        print(f"ingest: {len(evs):,} events of {args.persons:,} persons in {secs:.1f} s")
        with sqlite3.connect(Path(data) / "changes.db") as db:
            told = [json.loads(state) for (state,) in db.execute("SELECT state FROM told")]
        in_segment = sum(1 for w in told if w.get("segments"))
        print(f"persons told: {len(told):,}; in a segment: {in_segment:,}")
        settings = load_settings(data_dir=Path(data), profile_rules=rules, auth={"enabled": False})
        now = time.time_ns() // 1000
        for label, at in [("now", now)] * args.rounds + [("5 days on", now + 5 * DAY * 1_000_000)] * 2:
            system = build_system(settings, clock=lambda at=at: at)  # type: ignore[misc]
            try:
                assert system.changes is not None
                t = time.perf_counter()
                observed = system.changes.sweep(budget=1_000_000)
                took = time.perf_counter() - t
                print(f"sweep round at {label}: observed {observed:,} persons in {took:.3f} s")
            finally:
                system.close()


if __name__ == "__main__":
    main()
