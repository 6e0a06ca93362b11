"""Privacy records in Cassandra, shared by every idstitch server of a cluster: a key made or revoked
through one server, an erasure recorded through one, a suppression written by one, the audit
trail of all — each is one set of rows every server reads.

Tables (`ns` a namespace, as for the profile store):
- `suppressed_hashes` (ns, hash) clustered by erased_at, newest first: a read takes the newest
  (PER PARTITION LIMIT 1), a write never reads. Read per batch (IN lists of PER_READ hashes, side
  by side), never cached: an erasure through another server holds from the moment it returns.
  `privacy_flags` says whether any exists, so a cluster that never erased reads one flag row per
  batch; once true it stays true in this process.
- `erasures` (ns, erasure_id) and `erasure_requests` (ns, request_id) → erasure_id: a request id
  is claimed with `IF NOT EXISTS`, so two servers given the same request record one erasure.
- `audit` (ns, month) clustered by seq: `seq` is the entry's time in µs times 1,000 plus a random
  0-999 — ordered by time across servers without a counter anyone must coordinate (a bigint until
  the year 2262); `audit_months` lists the months written, so a read from the start scans only those.
- `api_keys` (ns, key_id) and `api_key_hashes` (ns, hash) → key_id.
- `agreements` (ns, setting) → fingerprint: what every server sharing the stores must agree on
  (the HMAC secret, how identifiers become keys), written once with `IF NOT EXISTS`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection, Mapping

from drivers.cassandra import CassandraConnection, CassandraEndpoint, translates_driver_errors
from privacy.records import ApiKey, AuditEntry, ErasureRecord

TABLES = (
    "CREATE TABLE IF NOT EXISTS {ks}.suppressed_hashes (ns text, hash text, erased_at bigint, "
    "PRIMARY KEY ((ns, hash), erased_at)) WITH CLUSTERING ORDER BY (erased_at DESC)",
    "CREATE TABLE IF NOT EXISTS {ks}.privacy_flags (ns text, name text, value boolean, "
    "PRIMARY KEY ((ns), name))",
    "CREATE TABLE IF NOT EXISTS {ks}.erasures (ns text, erasure_id text, request_id text, started_at bigint, "
    "completed_at bigint, person_id text, counts text, PRIMARY KEY ((ns, erasure_id)))",
    "CREATE TABLE IF NOT EXISTS {ks}.erasure_requests (ns text, request_id text, erasure_id text, "
    "PRIMARY KEY ((ns, request_id)))",
    "CREATE TABLE IF NOT EXISTS {ks}.audit (ns text, month int, seq bigint, at bigint, caller text, "
    "operation text, detail text, PRIMARY KEY ((ns, month), seq))",
    "CREATE TABLE IF NOT EXISTS {ks}.audit_months (ns text, month int, PRIMARY KEY ((ns), month))",
    "CREATE TABLE IF NOT EXISTS {ks}.api_keys (ns text, key_id text, hash text, role text, "
    "created_at bigint, revoked_at bigint, PRIMARY KEY ((ns), key_id))",
    "CREATE TABLE IF NOT EXISTS {ks}.api_key_hashes (ns text, hash text, key_id text, "
    "PRIMARY KEY ((ns, hash)))",
    "CREATE TABLE IF NOT EXISTS {ks}.agreements (ns text, setting text, fingerprint text, "
    "PRIMARY KEY ((ns), setting))",
)
MONTH_US = 30 * 86_400 * 1_000_000
SEQ_SPREAD = 1000
PER_READ = 100
"""Hashes per suppression read (an IN list over partitions, replicas asked side by side)."""


def _month(at_us: int) -> int:
    return at_us // MONTH_US


@translates_driver_errors
class CassandraPrivacyRecords:
    def __init__(
        self,
        endpoint: CassandraEndpoint,
        *,
        keyspace: str = "idstitch",
        replication: Mapping[str, str | int] | None = None,
        namespace: str = "main",
    ) -> None:
        self._conn = CassandraConnection.for_store(
            endpoint, keyspace=keyspace, replication=replication, namespace=namespace, tables=TABLES
        )
        self._ns = namespace
        self._any_suppression = False
        q = self._conn.prepare
        ks = keyspace
        self._suppress_q = q(f"INSERT INTO {ks}.suppressed_hashes (ns, hash, erased_at) VALUES (?, ?, ?)")
        self._suppressed_q = q(
            f"SELECT hash, erased_at FROM {ks}.suppressed_hashes WHERE ns = ? AND hash IN ? "
            "PER PARTITION LIMIT 1"
        )
        self._set_flag = q(f"UPDATE {ks}.privacy_flags SET value = true WHERE ns = ? AND name = ?")
        self._flag = q(f"SELECT value FROM {ks}.privacy_flags WHERE ns = ? AND name = ?")
        self._agree_q = q(
            f"INSERT INTO {ks}.agreements (ns, setting, fingerprint) VALUES (?, ?, ?) IF NOT EXISTS"
        )
        self._claim_request = q(
            f"INSERT INTO {ks}.erasure_requests (ns, request_id, erasure_id) VALUES (?, ?, ?) IF NOT EXISTS"
        )
        self._insert_erasure = q(
            f"INSERT INTO {ks}.erasures (ns, erasure_id, request_id, started_at, person_id, counts) "
            "VALUES (?, ?, ?, ?, ?, '{}')"
        )
        self._drop_erasure = q(f"DELETE FROM {ks}.erasures WHERE ns = ? AND erasure_id = ?")
        self._progress = q(
            f"UPDATE {ks}.erasures SET counts = ? WHERE ns = ? AND erasure_id = ? IF completed_at = null"
        )
        self._complete = q(
            f"UPDATE {ks}.erasures SET completed_at = ?, person_id = null, counts = ? "
            "WHERE ns = ? AND erasure_id = ?"
        )
        self._erasure_q = q(
            f"SELECT erasure_id, request_id, started_at, completed_at, person_id, counts FROM {ks}.erasures "
            "WHERE ns = ? AND erasure_id = ?"
        )
        self._audit_q = q(
            f"INSERT INTO {ks}.audit (ns, month, seq, at, caller, operation, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._add_month = q(f"INSERT INTO {ks}.audit_months (ns, month) VALUES (?, ?)")
        self._months = q(f"SELECT month FROM {ks}.audit_months WHERE ns = ? AND month >= ?")
        self._audit_log_q = q(
            f"SELECT seq, at, caller, operation, detail FROM {ks}.audit "
            "WHERE ns = ? AND month = ? AND seq > ? LIMIT ?"
        )
        self._add_key_q = q(
            f"INSERT INTO {ks}.api_keys (ns, key_id, hash, role, created_at) VALUES (?, ?, ?, ?, ?)"
        )
        self._add_hash_q = q(f"INSERT INTO {ks}.api_key_hashes (ns, hash, key_id) VALUES (?, ?, ?)")
        self._key_of_hash = q(f"SELECT key_id FROM {ks}.api_key_hashes WHERE ns = ? AND hash = ?")
        self._key_q = q(
            f"SELECT key_id, role, created_at, revoked_at FROM {ks}.api_keys WHERE ns = ? AND key_id = ?"
        )
        self._keys_q = q(f"SELECT key_id, role, created_at, revoked_at FROM {ks}.api_keys WHERE ns = ?")
        self._revoke_q = q(
            f"UPDATE {ks}.api_keys SET revoked_at = ? WHERE ns = ? AND key_id = ? IF revoked_at = null"
        )
        self._ping = q("SELECT release_version FROM system.local")

    # -- suppressions ------------------------------------------------------------------------

    def suppress(self, hashes: Collection[str], erased_at: int) -> None:
        # Each erasure time is a row of its own; a read takes the latest (erased, then erased again
        # later), so two servers suppressing the same hash at once need no read before the write.
        self._conn.run_all([(self._suppress_q, (self._ns, h, erased_at)) for h in hashes])
        if hashes:
            self._conn.session.execute(self._set_flag, (self._ns, "suppressions"))
            self._any_suppression = True

    def has_suppressions(self) -> bool:
        if not self._any_suppression:
            row = self._conn.session.execute(self._flag, (self._ns, "suppressions")).one()
            self._any_suppression = bool(row and row[0])
        return self._any_suppression

    def suppressed(self, hashes: Collection[str]) -> Mapping[str, int]:
        every = list(hashes)
        results = self._conn.run_all(
            [
                (self._suppressed_q, (self._ns, every[i : i + PER_READ]))
                for i in range(0, len(every), PER_READ)
            ]
        )
        return {h: at for rs in results for h, at in rs}

    # -- erasures ----------------------------------------------------------------------------

    def begin_erasure(self, record: ErasureRecord) -> ErasureRecord:
        # The record first, then the request id claimed for it: whoever wins the claim, the record
        # it names exists. A loser's record (a fresh id nobody was told) is dropped.
        self._conn.session.execute(
            self._insert_erasure,
            (self._ns, record.erasure_id, record.request_id, record.started_at, record.person_id),
        )
        rs = self._conn.session.execute(self._claim_request, (self._ns, record.request_id, record.erasure_id))
        if rs.was_applied:
            return record
        self._conn.session.execute(self._drop_erasure, (self._ns, record.erasure_id))
        existing = self.erasure(rs.one()[rs.column_names.index("erasure_id")])
        assert existing is not None
        return existing

    def record_progress(self, erasure_id: str, counts: Mapping[str, int]) -> None:
        # Conditional: a receipt already completed keeps its counts.
        self._conn.session.execute(
            self._progress, (json.dumps(dict(counts), sort_keys=True), self._ns, erasure_id)
        )

    def complete_erasure(
        self, erasure_id: str, counts: Mapping[str, int], completed_at: int
    ) -> ErasureRecord:
        self._conn.session.execute(
            self._complete, (completed_at, json.dumps(dict(counts), sort_keys=True), self._ns, erasure_id)
        )
        found = self.erasure(erasure_id)
        assert found is not None
        return found

    def erasure(self, erasure_id: str) -> ErasureRecord | None:
        row = self._conn.session.execute(self._erasure_q, (self._ns, erasure_id)).one()
        if row is None:
            return None
        erasure, request, started, completed, person, counts = row
        return ErasureRecord(erasure, request, started, completed, person, json.loads(counts or "{}"))

    # -- audit -------------------------------------------------------------------------------

    def audit(self, at: int, caller: str, operation: str, detail: Mapping[str, int | str]) -> None:
        seq = max(at, 0) * SEQ_SPREAD + secrets.randbelow(SEQ_SPREAD)
        month = _month(at)
        self._conn.run_all(
            [
                (
                    self._audit_q,
                    (self._ns, month, seq, at, caller, operation, json.dumps(dict(detail), sort_keys=True)),
                ),
                (self._add_month, (self._ns, month)),
            ]
        )

    def audit_log(self, after_seq: int = 0, limit: int = 1000) -> list[AuditEntry]:
        out: list[AuditEntry] = []
        start = _month(after_seq // SEQ_SPREAD)
        for (month,) in self._conn.session.execute(self._months, (self._ns, start)):
            rows = self._conn.session.execute(
                self._audit_log_q, (self._ns, month, after_seq, limit - len(out))
            )
            out += [AuditEntry(s, at, c, op, json.loads(d)) for s, at, c, op, d in rows]
            if len(out) >= limit:
                break
        return out

    # -- keys --------------------------------------------------------------------------------

    def add_key(self, key_id: str, key_hash: str, role: str, created_at: int) -> None:
        self._conn.run_all(
            [
                (self._add_key_q, (self._ns, key_id, key_hash, role, created_at)),
                (self._add_hash_q, (self._ns, key_hash, key_id)),
            ]
        )

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = self._conn.session.execute(self._key_of_hash, (self._ns, key_hash)).one()
        if row is None:
            return None
        key = self._conn.session.execute(self._key_q, (self._ns, row[0])).one()
        return None if key is None else ApiKey(*key)

    def api_keys(self) -> list[ApiKey]:
        keys = [ApiKey(*r) for r in self._conn.session.execute(self._keys_q, (self._ns,))]
        return sorted(keys, key=lambda k: (k.created_at, k.key_id))

    def revoke_key(self, key_id: str, at: int) -> bool:
        if self._conn.session.execute(self._key_q, (self._ns, key_id)).one() is None:
            return False
        return bool(self._conn.session.execute(self._revoke_q, (at, self._ns, key_id)).was_applied)

    def agreed(self, setting: str, fingerprint: str) -> str:
        rs = self._conn.session.execute(self._agree_q, (self._ns, setting, fingerprint))
        if rs.was_applied:
            return fingerprint
        return str(rs.one()[rs.column_names.index("fingerprint")])

    def ping(self) -> None:
        self._conn.session.execute(self._ping)

    def close(self) -> None:
        self._conn.release()
