"""The change feed in an embedded SQLite file (`changes.db` in the data directory). A cursor is
the change's row number: rows are appended by one writer, so the order of cursors is the order
of recording; erasure leaves gaps, retention moves the start (`meta.trimmed_through`).

A person's changes are found through `person_changes`, keyed by (block of row numbers, person,
row number). An index on the person alone put each change's entry on a page of its own: about
one written page per change, 513 of a late batch's 4,074 (bench.batch_pages). Keyed by block
first, a batch's entries land in the newest block, which spans a few dozen pages. A person's
changes are then read with one seek per block still held (retention bounds how many)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from changes.model import BadCursor, Change, CursorExpired, Watched, pack_told, unpack_told
from common.sqlite_db import SqliteDatabase, chunked, translates_errors

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, person_id TEXT NOT NULL,
    kind TEXT NOT NULL, store_id TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS person_changes(block INTEGER NOT NULL, person_id TEXT NOT NULL,
    seq INTEGER NOT NULL, PRIMARY KEY(block, person_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS told(person_id TEXT PRIMARY KEY, state TEXT NOT NULL, due INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""


_detail = msgspec.json.Encoder().encode
BLOCK_BITS = 12
"""Row numbers per block of `person_changes`: 4,096 entries, about 40 pages."""
_BLOCKS = (
    "WITH RECURSIVE blocks(b) AS (SELECT ?1 UNION ALL SELECT b - 1 FROM blocks WHERE b > ?2) "
    "SELECT p.block, p.person_id, p.seq FROM blocks "
    "JOIN person_changes p ON p.block = blocks.b AND p.person_id IN ({})"
)
"""The entries of some persons, one seek per block from the newest (?1) to the oldest (?2)."""
LISTING_SPAN = 16
"""Blocks a listing reads at a time, newest first, until it holds as many changes as asked for:
a person with a long history is listed without reading all of it."""


def _cursor(text: str) -> int:
    if not text.isdigit() or len(text) > 19:
        raise BadCursor(text)
    return int(text)


@translates_errors
class SqliteChangeFeed:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        with self._db.write() as db:  # a feed made when persons were only "timed" (1): due at once
            if "timed" in {row[1] for row in db.execute("PRAGMA table_info(told)")}:
                db.execute("DROP INDEX IF EXISTS told_timed")
                db.execute("ALTER TABLE told RENAME COLUMN timed TO due")
            db.execute("CREATE INDEX IF NOT EXISTS told_due ON told(due, person_id) WHERE due > 0")
            if db.execute("SELECT 1 FROM sqlite_schema WHERE name = 'changes_person'").fetchone():
                # A feed made before person_changes: its entries, then the index goes (OR IGNORE:
                # one an older server opened again holds some entries already).
                entries = f"SELECT seq >> {BLOCK_BITS}, person_id, seq FROM changes"
                db.execute(f"INSERT OR IGNORE INTO person_changes {entries}")
                db.execute("DROP INDEX changes_person")
            db.execute("DROP INDEX IF EXISTS changes_at")  # retention reads from the oldest row (trim)

    def record(self, changes: Sequence[Change], told: Mapping[str, Watched | None]) -> list[Change]:
        with self._db.write() as db:
            # Row numbers given here, under the write lock, so the rows go in one executemany.
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
            first = (row[0] if row else 0) + 1
            # Built, not dataclasses.replace'd: replace took a tenth of the feed's cost on ingest.
            out = [
                Change(c.person_id, c.kind, c.at, c.detail, c.store_id, str(first + i))
                for i, c in enumerate(changes)
            ]
            db.executemany(
                "INSERT INTO changes(seq, at, person_id, kind, store_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (first + i, c.at, c.person_id, c.kind, c.store_id, _detail(c.detail))
                    for i, c in enumerate(changes)
                ],
            )
            db.executemany(
                "INSERT INTO person_changes(block, person_id, seq) VALUES (?, ?, ?)",
                [((first + i) >> BLOCK_BITS, c.person_id, first + i) for i, c in enumerate(changes)],
            )
            gone = [p for p, w in told.items() if w is None]
            list(chunked(db, "DELETE FROM told WHERE person_id IN ({})", gone))
            db.executemany(
                "INSERT INTO told(person_id, state, due) VALUES (?, ?, ?) "
                "ON CONFLICT(person_id) DO UPDATE SET state = excluded.state, due = excluded.due",
                [(p, pack_told(w), w.due) for p, w in told.items() if w is not None],
            )
        return out

    def told(self, person_ids: Collection[str]) -> dict[str, Watched]:
        out: dict[str, Watched] = {}
        with self._db.read() as db:
            sql = "SELECT person_id, state, due FROM told WHERE person_id IN ({})"
            for rows in chunked(db, sql, person_ids):
                for pid, state, due in rows:
                    # The column is the due moment: a row of a feed made before due moments has
                    # none in its state (and 1, due at once, in the column).
                    out[pid] = unpack_told(state, due)
        return out

    def read(self, after: str | None, limit: int) -> tuple[list[Change], str]:
        with self._db.read() as db:
            trimmed = self._trimmed(db)
            if after is None:
                (last,) = db.execute("SELECT coalesce(max(seq), 0) FROM changes").fetchone()
                return [], str(max(last, trimmed))
            start = _cursor(after)
            if start < trimmed:
                raise CursorExpired(str(trimmed))
            rows = db.execute(
                "SELECT seq, at, person_id, kind, store_id, detail FROM changes WHERE seq > ? "
                "ORDER BY seq LIMIT ?",
                (start, limit),
            ).fetchall()
        changes = [
            Change(pid, kind, at, json.loads(detail), store, str(seq))
            for seq, at, pid, kind, store, detail in rows
        ]
        return changes, changes[-1].cursor if changes else after

    def of_persons(self, person_ids: Collection[str], limit: int) -> list[Change]:
        with self._db.read() as db:
            entries = _entries_of(db, person_ids, enough=limit)
            seqs = sorted((seq for _, _, seq in entries), reverse=True)[: max(limit, 0)]
            sql = "SELECT seq, at, person_id, kind, store_id, detail FROM changes WHERE seq IN ({})"
            found: list[tuple[Any, ...]] = [row for rows in chunked(db, sql, seqs) for row in rows]
        found.sort(reverse=True)
        return [
            Change(pid, kind, at, json.loads(detail), store, str(seq))
            for seq, at, pid, kind, store, detail in found
        ]

    @staticmethod
    def _trimmed(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM meta WHERE name = 'trimmed_through'").fetchone()
        return int(row[0]) if row else 0

    def forget(self, person_ids: Collection[str]) -> int:
        with self._db.write() as db:
            entries = _entries_of(db, person_ids)
            sql = "DELETE FROM changes WHERE seq IN ({}) RETURNING seq"
            gone = sum(len(rows) for rows in chunked(db, sql, [seq for _, _, seq in entries]))
            db.executemany(
                "DELETE FROM person_changes WHERE block = ? AND person_id = ? AND seq = ?", entries
            )
            list(chunked(db, "DELETE FROM told WHERE person_id IN ({})", person_ids))
        self._db.purge_wal()
        return gone

    def due(self, before: int, limit: int, after: str = "") -> tuple[list[str], str]:
        """In due order; the token is "due:person id" of the last listed."""
        at, _, last = after.partition(":")
        rows = self._db.fetch(
            "SELECT due, person_id FROM told WHERE due > 0 AND due <= ? AND (due, person_id) > (?, ?) "
            "ORDER BY due, person_id LIMIT ?",
            (before, int(at) if at.isdigit() else 0, last, limit),
        )
        return [p for _, p in rows], f"{rows[-1][0]}:{rows[-1][1]}" if rows else after

    def trim(self, before: int) -> int:
        """Drops the oldest changes up to the first recorded at or after `before`: the start moves
        and never leaves a gap a reader could miss. Found by reading from the oldest row, so it
        costs the rows it drops; an index on `at` cost a written page per batch and 26 B per
        event on disk for this alone."""
        with self._db.write() as db:
            young = db.execute("SELECT seq FROM changes WHERE at >= ? ORDER BY seq LIMIT 1", (before,))
            row = young.fetchone()
            sql = "SELECT max(seq) FROM changes" + (" WHERE seq < ?" if row else "")
            (through,) = db.execute(sql, row or ()).fetchone()
            if through is None:
                return 0
            gone = db.execute("DELETE FROM changes WHERE seq <= ?", (through,)).rowcount
            db.execute("DELETE FROM person_changes WHERE block < ?", (through >> BLOCK_BITS,))
            db.execute(
                "INSERT INTO meta(name, value) VALUES ('trimmed_through', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                (through,),
            )
        return gone

    def close(self) -> None:
        self._db.close()


def _entries_of(
    db: sqlite3.Connection, person_ids: Collection[str], enough: int | None = None
) -> list[tuple[int, str, int]]:
    """The `person_changes` entries of these persons (some may name trimmed changes: the entries
    of the block retention cut through stay until the whole block goes). `enough`: stop once this
    many are found, LISTING_SPAN blocks at a time from the newest — every block read later holds
    only older entries, so the newest `enough` are among those found."""
    top, oldest = db.execute("SELECT max(block), min(block) FROM person_changes").fetchone()
    found: list[tuple[int, str, int]] = []
    while top is not None and top >= oldest and (enough is None or len(found) < enough):
        low = oldest if enough is None else max(oldest, top - LISTING_SPAN + 1)
        found += [row for rows in chunked(db, _BLOCKS, person_ids, (top, low)) for row in rows]
        top = low - 1
    return found
