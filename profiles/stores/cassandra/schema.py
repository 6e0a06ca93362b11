"""The Cassandra profile store's tables and the prepared statements it runs. Only the keyspace name
is spliced into CQL (checked by connection.NAME); every value travels as a bound parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.cassandra import CassandraConnection

TABLES = (
    """CREATE TABLE IF NOT EXISTS {ks}.person_log (
        ns text, person_id text, event_id text,
        state blob STATIC, version bigint STATIC, merged_into text STATIC,
        pending set<text> STATIC, absorbed set<text> STATIC,
        occurred_at bigint, keys list<text>, facts blob,
        PRIMARY KEY ((ns, person_id), event_id))""",
    """CREATE TABLE IF NOT EXISTS {ks}.event_claims (
        ns text, event_id text, person_id text,
        PRIMARY KEY ((ns, event_id)))""",
)


@dataclass(frozen=True, slots=True)
class Statements:
    head: Any
    heads: Any
    event_ids: Any
    present: Any
    rows: Any
    insert_row: Any
    fold_row: Any
    delete_row: Any
    delete_partition: Any
    set_state: Any
    add_pending: Any
    drop_pending: Any
    freeze: Any
    absorb: Any
    claim: Any
    record_claim: Any
    reclaim: Any
    move_claim: Any
    drop_claim: Any
    keys_of_rows: Any
    scrub_keys: Any
    ping: Any


def prepare(conn: CassandraConnection, keyspace: str) -> Statements:
    q = conn.prepare
    log, claims = f"{keyspace}.person_log", f"{keyspace}.event_claims"
    where = "WHERE ns = ? AND person_id = ?"
    # DISTINCT reads the static columns alone, not the first event row with them.
    head = f"SELECT DISTINCT ns, person_id, version, state, merged_into, pending, absorbed FROM {log}"
    return Statements(
        head=q(f"{head} {where}"),
        heads=q(f"{head} WHERE ns = ? AND person_id IN ?"),
        event_ids=q(f"SELECT event_id FROM {log} WHERE ns = ? AND person_id IN ?"),
        present=q(f"SELECT event_id FROM {log} {where} AND event_id IN ?"),
        rows=q(
            f"SELECT person_id, event_id, occurred_at, keys, facts FROM {log} WHERE ns = ? AND person_id IN ?"
        ),
        insert_row=q(
            f"INSERT INTO {log} (ns, person_id, event_id, occurred_at, keys, facts) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
        ),
        fold_row=q(
            f"INSERT INTO {log} (ns, person_id, event_id, occurred_at, keys, facts) "
            "VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL ?"
        ),
        delete_row=q(f"DELETE FROM {log} {where} AND event_id = ?"),
        delete_partition=q(f"DELETE FROM {log} {where}"),
        set_state=q(f"UPDATE {log} SET state = ?, version = ? {where} IF version = ?"),
        add_pending=q(f"UPDATE {log} SET pending = pending + ?, version = ? {where} IF version = ?"),
        drop_pending=q(f"UPDATE {log} SET pending = pending - ?, version = ? {where} IF version = ?"),
        freeze=q(f"UPDATE {log} SET merged_into = ?, version = ? {where} IF version = ?"),
        absorb=q(
            f"UPDATE {log} SET state = ?, pending = pending - ?, absorbed = absorbed + ?, version = ? "
            f"{where} IF version = ?"
        ),
        claim=q(f"INSERT INTO {claims} (ns, event_id, person_id) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?"),
        record_claim=q(f"INSERT INTO {claims} (ns, event_id, person_id) VALUES (?, ?, ?) USING TTL ?"),
        reclaim=q(f"UPDATE {claims} SET person_id = ? WHERE ns = ? AND event_id = ? IF person_id = ?"),
        move_claim=q(f"UPDATE {claims} USING TTL ? SET person_id = ? WHERE ns = ? AND event_id = ?"),
        drop_claim=q(f"DELETE FROM {claims} WHERE ns = ? AND event_id = ?"),
        keys_of_rows=q(
            f"SELECT person_id, event_id, keys, facts, TTL(facts) FROM {log} WHERE ns = ? AND person_id IN ?"
        ),
        # IF EXISTS: a row a split just moved is not brought back as keys alone; the TTL is the
        # row's own, so the keys do not outlive the facts.
        scrub_keys=q(f"UPDATE {log} USING TTL ? SET keys = ?, facts = ? {where} AND event_id = ? IF EXISTS"),
        ping=q("SELECT release_version FROM system.local"),
    )
