"""Benchmark aid: SQLite's query plan of every statement the ingest path runs on the embedded
stores. It ingests a labelled population (bench/accuracy.py's) through `System.ingest`, records
each distinct statement the stores' connections run (literals folded to `?`), then asks SQLite
for the plan of one recorded instance of each against the filled database, and prints the
statements whose plan scans a whole table (`SCAN` without an index) first.

Run: .venv/bin/python -m bench.query_plans [--persons 2000]
Prints only; the population is synthetic, and no value is printed (literals are folded).
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.accuracy import population

LITERAL = re.compile(r"'(?:[^']|'')*'|X'[0-9A-Fa-f]*'|\b\d+(?:\.\d+)?\b")


def shape(sql: str) -> str:
    folded = LITERAL.sub("?", " ".join(sql.split()))
    folded = re.sub(r"\?(?:\s*,\s*\?)+", "?…", folded)
    return re.sub(r"\(\?…?\)(?:\s*,\s*\(\?…?\))+", "(?…)…", folded)  # VALUES rows, however many


def whole_table(step: str) -> bool:
    """A plan step that reads a stored table whole (not a VALUES list, not SQLite's own tiny
    sqlite_sequence, not a covering or primary-key search)."""
    if not step.startswith("SCAN") or "USING" in step or "CONSTANT ROW" in step:
        return False
    return step.split()[1] not in ("v", "sqlite_sequence")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=2000)
    args = ap.parse_args(argv)
    seen: dict[str, tuple[str, str]] = {}  # shape -> (database file, one statement as run)
    real_connect: Callable[..., sqlite3.Connection] = sqlite3.connect

    def connect(database: Any, *a: Any, **kw: Any) -> sqlite3.Connection:
        conn = real_connect(database, *a, **kw)
        name = Path(str(database)).name

        def trace(sql: str) -> None:
            if sql.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")):
                seen.setdefault(shape(sql), (name, sql))

        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]
    from server.bootstrap import build_system
    from server.config import load_settings
    from server.profile_convert import ingest_batch

    data = Path(tempfile.mkdtemp(prefix="idstitch-plans-"))
    system = build_system(load_settings(data_dir=data, hmac_secret="plans"))
    events = population(args.persons, 50, 1).events
    now = time.time_ns() // 1000
    for i in range(0, len(events), 500):
        batch = ingest_batch(events[i : i + 500], "events", now)
        system.ingest(batch)
    system.close()
    sqlite3.connect = real_connect  # type: ignore[assignment]
    rows = []
    for statement_shape, (name, sql) in seen.items():
        with real_connect(data / name) as db:
            try:
                plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()]
            except sqlite3.Error as e:
                plan = [f"(no plan: {e.__class__.__name__})"]
        scans = [p for p in plan if whole_table(p)]
        rows.append((not scans, name, statement_shape, plan))
    print(f"{len(rows)} distinct statements on the ingest path ", end="")
    print(f"({len(events):,} events, {args.persons:,} persons)")
    for ok, name, statement_shape, plan in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        print(f"\n[{'ok' if ok else 'SCANS'}] {name}: {statement_shape[:300]}")
        for p in plan:
            print(f"    {p}")


if __name__ == "__main__":
    main()
