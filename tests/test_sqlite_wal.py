"""The embedded stores' write-ahead log stays bounded under writes that never pause."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from common import sqlite_db
from common.sqlite_db import SqliteDatabase


def test_a_steady_stream_of_writes_does_not_grow_the_log_without_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without a rewind the log holds every page every transaction wrote, so it outgrows the rows.
    monkeypatch.setattr(sqlite_db, "CHECKPOINT_SECONDS", 0.05)
    monkeypatch.setattr(sqlite_db, "RESTART_FRAMES", 64)
    db = SqliteDatabase(tmp_path / "t.db", "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB);")
    wal = tmp_path / "t.db-wal"
    rows_bytes = largest = key = 0
    try:
        deadline = time.monotonic() + 20
        while rows_bytes < 32 * 2**20 and time.monotonic() < deadline:
            with db.write() as conn:  # back to back: no pause in which a plain checkpoint catches up
                rows = [(key + i, os.urandom(200)) for i in range(50)]
                conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
            with db.read() as conn:  # readers come and go, as on the page-render path
                conn.execute("SELECT v FROM t WHERE k = ?", (key,)).fetchone()
            key += 50
            rows_bytes += 50 * 200
            largest = max(largest, wal.stat().st_size)
    finally:
        db.close()
    assert rows_bytes >= 32 * 2**20, "this machine wrote too little to tell"
    assert largest < 16 * 2**20, f"the log reached {largest:,} bytes for {rows_bytes:,} bytes of rows"
