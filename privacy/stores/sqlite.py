"""Privacy records in an embedded SQLite file (`privacy.db` in the data directory).

Suppressed hashes are also held in memory (they are few, and every ingested identifier is checked
against them); the file is the record that survives restarts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Mapping
from pathlib import Path

from common.sqlite_db import SqliteDatabase, translates_errors
from privacy.records import ApiKey, AuditEntry, ErasureRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS suppressions(hash TEXT PRIMARY KEY, erased_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS erasures(
    erasure_id TEXT PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, started_at INTEGER NOT NULL,
    completed_at INTEGER, person_id TEXT, counts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, caller TEXT NOT NULL,
    operation TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys(
    key_id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL, created_at INTEGER NOT NULL,
    revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS agreements(setting TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID;
"""


@translates_errors
class SqlitePrivacyRecords:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        self._lock = threading.Lock()
        self._suppressed: dict[str, int] = dict(self._db.fetch("SELECT hash, erased_at FROM suppressions"))

    def suppress(self, hashes: Collection[str], erased_at: int) -> None:
        with self._db.write() as db:
            db.executemany(
                "INSERT INTO suppressions(hash, erased_at) VALUES (?, ?) "
                "ON CONFLICT(hash) DO UPDATE SET erased_at = max(erased_at, excluded.erased_at)",
                [(h, erased_at) for h in hashes],
            )
        with self._lock:
            for h in hashes:
                self._suppressed[h] = max(self._suppressed.get(h, erased_at), erased_at)

    def has_suppressions(self) -> bool:
        return bool(self._suppressed)

    def suppressed(self, hashes: Collection[str]) -> Mapping[str, int]:
        found = self._suppressed
        return {h: found[h] for h in hashes if h in found} if found else {}

    def begin_erasure(self, record: ErasureRecord) -> ErasureRecord:
        with self._db.write() as db:
            row = db.execute(
                "SELECT erasure_id FROM erasures WHERE request_id = ?", (record.request_id,)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO erasures(erasure_id, request_id, started_at, person_id, counts) "
                    "VALUES (?,?,?,?,?)",
                    (record.erasure_id, record.request_id, record.started_at, record.person_id, "{}"),
                )
                return record
        found = self.erasure(row[0])
        assert found is not None
        return found

    def record_progress(self, erasure_id: str, counts: Mapping[str, int]) -> None:
        with self._db.write() as db:
            db.execute(
                "UPDATE erasures SET counts = ? WHERE erasure_id = ? AND completed_at IS NULL",
                (json.dumps(dict(counts), sort_keys=True), erasure_id),
            )

    def complete_erasure(
        self, erasure_id: str, counts: Mapping[str, int], completed_at: int
    ) -> ErasureRecord:
        with self._db.write() as db:
            db.execute(
                "UPDATE erasures SET completed_at = ?, person_id = NULL, counts = ? WHERE erasure_id = ?",
                (completed_at, json.dumps(dict(counts), sort_keys=True), erasure_id),
            )
        self._db.purge_wal()  # the log's older page images still held the person id
        found = self.erasure(erasure_id)
        assert found is not None
        return found

    def erasure(self, erasure_id: str) -> ErasureRecord | None:
        rows = self._db.fetch(
            "SELECT erasure_id, request_id, started_at, completed_at, person_id, counts FROM erasures "
            "WHERE erasure_id = ?",
            (erasure_id,),
        )
        row = rows[0] if rows else None
        return (
            None if row is None else ErasureRecord(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
        )

    def audit(self, at: int, caller: str, operation: str, detail: Mapping[str, int | str]) -> None:
        with self._db.write() as db:
            db.execute(
                "INSERT INTO audit(at, caller, operation, detail) VALUES (?, ?, ?, ?)",
                (at, caller, operation, json.dumps(dict(detail), sort_keys=True)),
            )

    def audit_log(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        rows = self._db.fetch(
            "SELECT seq, at, caller, operation, detail FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [AuditEntry(s, at, c, op, json.loads(d)) for s, at, c, op, d in rows]

    def add_key(self, key_id: str, key_hash: str, role: str, created_at: int) -> None:
        with self._db.write() as db:
            db.execute(
                "INSERT INTO api_keys(key_id, hash, role, created_at) VALUES (?, ?, ?, ?)",
                (key_id, key_hash, role, created_at),
            )

    def agreed(self, setting: str, fingerprint: str) -> str:
        with self._db.write() as db:
            db.execute(
                "INSERT INTO agreements(setting, fingerprint) VALUES (?, ?) ON CONFLICT(setting) DO NOTHING",
                (setting, fingerprint),
            )
            return str(
                db.execute("SELECT fingerprint FROM agreements WHERE setting = ?", (setting,)).fetchone()[0]
            )

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self._db.fetch(
            "SELECT key_id, role, created_at, revoked_at FROM api_keys WHERE hash = ?", (key_hash,)
        )
        row = rows[0] if rows else None
        return None if row is None else ApiKey(*row)

    def api_keys(self) -> list[ApiKey]:
        rows = self._db.fetch("SELECT key_id, role, created_at, revoked_at FROM api_keys ORDER BY created_at")
        return [ApiKey(*r) for r in rows]

    def revoke_key(self, key_id: str, at: int) -> bool:
        with self._db.write() as db:
            cur = db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (at, key_id)
            )
            return cur.rowcount == 1

    def close(self) -> None:
        self._db.close()
