"""Benchmark aid: which B-trees of the embedded stores one batch writes, early and late. Every
page a transaction changes goes to the write-ahead log at commit and again to the database at
the next checkpoint, so the pages a batch dirties are most of what it costs to write (commits
and the checkpointer thread), and their number grows as keys spread over more pages.

It ingests a labelled population (bench/accuracy.py's) through `System.ingest` with the
checkpointer held off; before each measured batch every log is emptied into its database, and
after it the log's frame headers say which pages the batch wrote, which SQLite's `dbstat` maps to
tables and indexes.

Run: .venv/bin/python -m bench.batch_pages [--persons 3000] [--at 10,-2]
Prints page counts only; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import sqlite3
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench.accuracy import population
from common import sqlite_db

WAL_HEADER, FRAME_HEADER = 32, 24


def wal_pages(db: Path) -> list[int]:
    """The page number of every frame in the database's log, in the order written."""
    wal = db.with_name(db.name + "-wal")
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < WAL_HEADER:
        return []
    page_size = struct.unpack(">I", data[8:12])[0]
    step = FRAME_HEADER + page_size
    starts = range(WAL_HEADER, len(data) - step + 1, step)
    return [struct.unpack(">I", data[at : at + 4])[0] for at in starts]


def owners(db: Path) -> dict[int, str]:
    """Page number → the table or index it belongs to (through the log: the newest pages)."""
    with sqlite3.connect(db) as conn:
        return {int(p): str(n) for p, n in conn.execute("SELECT pageno, name FROM dbstat")}


def empty_logs(files: Sequence[Path]) -> None:
    for f in files:
        with sqlite3.connect(f) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--at", default="10,-2", help="batches to measure (negative: from the end)")
    args = ap.parse_args(argv)
    sqlite_db.CHECKPOINT_SECONDS = 1e9  # the checkpointer held off: the log keeps what a batch wrote
    from server.bootstrap import build_system
    from server.config import load_settings
    from server.profile_convert import ingest_batch

    data = Path(tempfile.mkdtemp(prefix="idstitch-pages-"))
    system = build_system(load_settings(data_dir=data, hmac_secret="pages"))
    events = population(args.persons, 50, 1).events
    now = time.time_ns() // 1000
    count = -(-len(events) // 500)
    wanted = {k % count for k in (int(x) for x in args.at.split(","))}
    files = sorted(data.glob("*.db"))
    print(f"{len(events):,} events of {args.persons:,} persons in {count} batches of 500")
    for k in range(max(wanted) + 1):  # converted as they go: nothing past the last measured
        batch = ingest_batch(events[k * 500 : (k + 1) * 500], "events", now)
        if k not in wanted:
            system.ingest(batch)
            if k % 20 == 0:
                empty_logs(files)
            continue
        empty_logs(files)
        system.ingest(batch)
        total = 0
        print(f"\nbatch {k + 1}:")
        for f in files:
            pages = wal_pages(f)
            if not pages:
                continue
            total += len(pages)
            by_tree = Counter(owners(f).get(p, "(new or free)") for p in pages)
            print(f"  {f.name}: {len(pages)} pages")
            for name, n in by_tree.most_common():
                print(f"      {name:<36} {n:>6}")
        print(f"  all stores: {total} pages, {total / len(batch):.1f} per event")
    system.close()


if __name__ == "__main__":
    main()
