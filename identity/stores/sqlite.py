"""The embedded identity graph: one SQLite database under the data directory.

Each batch's snapshot and changes are one write transaction (see sqlite_db), so batches are
serializable and a killed process leaves either the whole batch or none of it.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from common.sqlite_db import CHUNK, SqliteDatabase, chunked, translates_errors
from identity.identifiers import WEAK_CLASSES, EvidenceClass, display_of, type_of
from identity.model import (
    ChangeSet,
    EdgeState,
    GraphErasure,
    IdentifierState,
    OutboxEntry,
    PersonGraph,
    PersonNode,
    PersonState,
    SharedResolution,
    Snapshot,
    UnappliedLink,
)

R = TypeVar("R")

SCHEMA = """
CREATE TABLE IF NOT EXISTS persons(id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aliases(alias TEXT PRIMARY KEY, person_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_person ON aliases(person_id);
CREATE TABLE IF NOT EXISTS identifiers(
    key TEXT PRIMARY KEY, type TEXT NOT NULL, person_id TEXT, shared INTEGER NOT NULL,
    first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, weak_since INTEGER, weak_via TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_person ON identifiers(person_id, type);
CREATE TABLE IF NOT EXISTS edges(
    a TEXT NOT NULL, b TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    channel TEXT NOT NULL, rule TEXT NOT NULL, strength INTEGER NOT NULL, event_count INTEGER NOT NULL,
    PRIMARY KEY(a, b)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_b ON edges(b);
CREATE TABLE IF NOT EXISTS shared_uses(key TEXT NOT NULL, person_id TEXT NOT NULL,
    PRIMARY KEY(key, person_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shared_uses_person ON shared_uses(person_id);
-- Accepted event ids with the person each was attributed to (not updated by merges: a read
-- follows the alias). What events say lives in the profile store.
CREATE TABLE IF NOT EXISTS events(event_id TEXT PRIMARY KEY, person_id TEXT) WITHOUT ROWID;
-- What committed batches have yet to tell (identity.model.OutboxEntry).
CREATE TABLE IF NOT EXISTS outbox(id TEXT PRIMARY KEY, at INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_at ON outbox(at);
"""

Placement = tuple[str, str | None, bool, int | None, str | None]
"""An identifier's type, person, shared flag and weak link: the columns its indexes are on."""
Found = tuple[Placement, int, int]
"""An identifier as the snapshot read it: its placement, first and last seen."""

CHUNK_PAIRS = 250  # two parameters each
WEAK_HOPS = 4
"""How far the snapshot follows identifiers joined through a weak link to a batch identifier."""


@translates_errors
class SqliteIdentityGraph:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        with self._db.write() as db:  # graphs made before pending weak links
            columns = {row[1] for row in db.execute("PRAGMA table_info(identifiers)")}
            for column, kind in (("weak_since", "INTEGER"), ("weak_via", "TEXT")):
                if column not in columns:
                    db.execute(f"ALTER TABLE identifiers ADD COLUMN {column} {kind}")
            db.execute(
                "CREATE INDEX IF NOT EXISTS identifiers_weak_via ON identifiers(weak_via) "
                "WHERE weak_via IS NOT NULL"
            )

    # -- writes ------------------------------------------------------------------------------

    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        with self._db.write() as db:
            snapshot = self._snapshot(db, keys, pairs, event_ids)
            seen = {k: _found(s) for k, s in snapshot.identifiers.items()}  # before the plan moves them
            changes, result = plan(snapshot)
            self._apply(db, changes, seen)
        return result

    def _snapshot(
        self,
        db: sqlite3.Connection,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
    ) -> Snapshot:
        idents: dict[str, IdentifierState] = {}
        cols = "key, type, person_id, shared, first_seen, last_seen, weak_since, weak_via"
        by_key = f"SELECT {cols} FROM identifiers WHERE key IN ({{}})"
        by_via = f"SELECT {cols} FROM identifiers WHERE weak_via IN ({{}})"

        def load(sql: str, wanted: Collection[str]) -> list[str]:
            found = []
            for rows in chunked(db, sql, wanted):
                for k, t, p, sh, fs, ls, ws, wv in rows:
                    if k not in idents:
                        idents[k] = IdentifierState(k, t, p, bool(sh), fs, ls, ws, wv)
                        found.append(k)
            return found

        # The batch's identifiers; those joined to them by weak links, and to those, a few hops
        # deep; and the partners of their weak links. The engine re-judges a weak link when a
        # late sighting arrives, and moves what was joined through an identifier with it.
        frontier = load(by_key, keys)
        for _ in range(WEAK_HOPS):
            frontier = load(by_via, frontier)
            if not frontier:
                break
        load(by_key, [s.weak_via for s in idents.values() if s.weak_via and s.weak_via not in idents])
        person_ids = {s.person_id for s in idents.values() if s.person_id is not None}
        persons: dict[str, PersonState] = {}
        for rows in chunked(db, "SELECT id, first_seen FROM persons WHERE id IN ({})", person_ids):
            for pid, fs in rows:
                persons[pid] = PersonState(pid, fs, Counter())
        for rows in chunked(
            db,
            "SELECT person_id, type, count(*) FROM identifiers "
            "WHERE person_id IN ({}) GROUP BY person_id, type",
            person_ids,
        ):
            for pid, t, n in rows:
                persons[pid].counts[t] = n
        edges: dict[tuple[str, str], EdgeState] = {}
        # Exact pairs, not every edge of the batch's keys: a kiosk device has thousands of edges.
        pair_list = list(pairs)
        for start in range(0, len(pair_list), CHUNK_PAIRS):
            part = pair_list[start : start + CHUNK_PAIRS]
            found = db.execute(
                "SELECT a, b, first_seen, last_seen, channel, rule, strength, event_count FROM edges "
                f"JOIN (VALUES {','.join(['(?, ?)'] * len(part))}) v ON a = v.column1 AND b = v.column2",
                [k for pair in part for k in pair],
            )
            for a, b, fs, ls, ch, rule, st, n in found:
                edges[(a, b)] = EdgeState(a, b, fs, ls, ch, rule, EvidenceClass(st), n)
        known: dict[str, str | None] = {}
        sql = (
            "SELECT e.event_id, coalesce(a.person_id, e.person_id) FROM events e "
            "LEFT JOIN aliases a ON a.alias = e.person_id WHERE e.event_id IN ({})"
        )
        for rows in chunked(db, sql, event_ids):
            known.update(rows)
        return Snapshot(idents, persons, edges, known)

    def _apply(self, db: sqlite3.Connection, ch: ChangeSet, seen: Mapping[str, Found]) -> None:
        """`seen`: where the snapshot found its identifiers, in this transaction."""
        db.executemany("INSERT INTO persons(id, first_seen) VALUES (?, ?)", ch.new_persons.items())
        # Chains inside the batch (a → b, then b → c) collapse to their final survivor, so each
        # statement runs once over all merges and aliases stay one hop deep.
        final = ch.final_merges()
        pairs = [{"l": loser, "s": survivor} for loser, survivor in final.items()]
        for sql in (
            "UPDATE identifiers SET person_id = :s WHERE person_id = :l",
            "UPDATE aliases SET person_id = :s WHERE person_id = :l",
            "INSERT OR IGNORE INTO shared_uses(key, person_id) "
            "SELECT key, :s FROM shared_uses WHERE person_id = :l",
            "DELETE FROM shared_uses WHERE person_id = :l",
            "INSERT INTO aliases(alias, person_id) VALUES (:l, :s)",
            "DELETE FROM persons WHERE id = :l",
        ):
            db.executemany(sql, pairs)
        sighted, placed = _sighted(ch.identifiers.values(), seen)
        db.executemany("UPDATE identifiers SET first_seen = ?, last_seen = ? WHERE key = ?", sighted)
        db.executemany(
            "INSERT INTO identifiers(key, type, person_id, shared, first_seen, last_seen, weak_since, "
            "weak_via) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET person_id = excluded.person_id, shared = excluded.shared, "
            "first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
            "weak_since = excluded.weak_since, weak_via = excluded.weak_via",
            (
                (
                    s.key,
                    s.type,
                    s.person_id,
                    int(s.shared),
                    s.first_seen,
                    s.last_seen,
                    s.weak_since,
                    s.weak_via,
                )
                for s in placed
            ),
        )
        db.executemany(
            "INSERT INTO edges(a, b, first_seen, last_seen, channel, rule, strength, event_count) "
            "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(a, b) DO UPDATE SET first_seen = excluded.first_seen, "
            "last_seen = excluded.last_seen, strength = excluded.strength, "
            "event_count = excluded.event_count",
            (
                (e.a, e.b, e.first_seen, e.last_seen, e.channel, e.rule, int(e.proves), e.event_count)
                for e in ch.edges.values()
            ),
        )
        db.executemany("INSERT OR IGNORE INTO shared_uses(key, person_id) VALUES (?, ?)", ch.shared_uses)
        if ch.outbox is not None:
            self._write_outbox(db, ch.outbox)
        db.executemany(
            "INSERT INTO events(event_id, person_id) VALUES (?, ?)",
            ((r.event_id, r.person_id) for r in ch.events),
        )

    @staticmethod
    def _write_outbox(db: sqlite3.Connection, entry: OutboxEntry) -> None:
        db.execute("INSERT INTO outbox(id, at, body) VALUES (?, ?, ?)", (entry.id, entry.at, entry.body))

    def outbox(self, before: int, limit: int) -> list[OutboxEntry]:
        with self._db.read() as db:
            rows = db.execute(
                "SELECT id, at, body FROM outbox WHERE at < ? ORDER BY at, id LIMIT ?", (before, limit)
            ).fetchall()
        return [OutboxEntry(i, at, bytes(body)) for i, at, body in rows]

    def outbox_done(self, ids: Collection[str]) -> None:
        if ids:
            with self._db.write() as db:
                db.executemany("DELETE FROM outbox WHERE id = ?", ((i,) for i in ids))

    def detach(
        self,
        key: str,
        *,
        new_person_id: str | None,
        outbox: Callable[[str], OutboxEntry] | None = None,
    ) -> str | None:
        with self._db.write() as db:
            row = db.execute(
                "SELECT person_id, shared, first_seen FROM identifiers WHERE key = ?", (key,)
            ).fetchone()
            if row is None or row[0] is None or row[1]:
                return None
            pid, _, first_seen = row
            if new_person_id is not None:
                (members,) = db.execute(
                    "SELECT count(*) FROM identifiers WHERE person_id = ?", (pid,)
                ).fetchone()
                if members < 2:
                    return None
                db.execute("INSERT INTO persons(id, first_seen) VALUES (?, ?)", (new_person_id, first_seen))
                db.execute("UPDATE identifiers SET person_id = ? WHERE key = ?", (new_person_id, key))
            else:
                db.execute("UPDATE identifiers SET person_id = NULL, shared = 1 WHERE key = ?", (key,))
                db.execute("INSERT OR IGNORE INTO shared_uses(key, person_id) VALUES (?, ?)", (key, pid))
            if outbox is not None:
                self._write_outbox(db, outbox(pid))
            return pid

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        with self._db.write() as db:
            pid = self._canonical(db, person_id)
            if pid is None:
                return None
            keys = [k for (k,) in db.execute("SELECT key FROM identifiers WHERE person_id = ?", (pid,))]
            aliases = [a for (a,) in db.execute("SELECT alias FROM aliases WHERE person_id = ?", (pid,))]
            links = 0
            for column in ("a", "b"):
                for start in range(0, len(keys), CHUNK):
                    part = keys[start : start + CHUNK]
                    marks = ",".join("?" * len(part))
                    links += db.execute(f"DELETE FROM edges WHERE {column} IN ({marks})", part).rowcount
            db.execute("DELETE FROM identifiers WHERE person_id = ?", (pid,))
            for start in range(0, len(keys), CHUNK):  # the raw value of a cookie, say, goes too
                part = keys[start : start + CHUNK]
                db.execute(
                    f"UPDATE identifiers SET weak_via = NULL WHERE weak_via IN ({','.join('?' * len(part))})",
                    part,
                )
            shared = db.execute("DELETE FROM shared_uses WHERE person_id = ?", (pid,)).rowcount
            db.execute("DELETE FROM aliases WHERE person_id = ?", (pid,))
            db.execute("DELETE FROM persons WHERE id = ?", (pid,))
            events = 0
            ids = list(event_ids)
            for start in range(0, len(ids), CHUNK):
                part = ids[start : start + CHUNK]
                events += db.execute(
                    f"DELETE FROM events WHERE event_id IN ({','.join('?' * len(part))})", part
                ).rowcount
        self._db.purge_wal()
        return GraphErasure(tuple(keys), links, len(aliases), shared, events)

    # -- reads -------------------------------------------------------------------------------

    def persons_linked_to(self, keys: Collection[str]) -> set[str]:
        found: set[str] = set()
        with self._db.read() as db:
            for a, b in (("a", "b"), ("b", "a")):
                sql = (
                    f"SELECT DISTINCT i.person_id FROM edges e JOIN identifiers i ON i.key = e.{b} "
                    f"WHERE e.{a} IN ({{}}) AND i.person_id IS NOT NULL"
                )
                found.update(pid for rows in chunked(db, sql, keys) for (pid,) in rows)
        return found

    def resolve(self, key: str) -> str | SharedResolution | None:
        with self._db.connection() as db:
            return self._resolve(db, key)

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        with self._db.read() as db:
            found = self._resolve(db, key)
            return self._person_graph(db, found) if isinstance(found, str) else found

    def _resolve(self, db: sqlite3.Connection, key: str) -> str | SharedResolution | None:
        row = db.execute("SELECT person_id, shared FROM identifiers WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        person_id, shared = row
        if shared:
            users = db.execute("SELECT person_id FROM shared_uses WHERE key = ? ORDER BY person_id", (key,))
            return SharedResolution(key, tuple(p for (p,) in users))
        return person_id

    def live_person(self, person_id: str) -> str | None:
        with self._db.connection() as db:
            return self._canonical(db, person_id)

    def resolve_many(self, keys: Collection[str]) -> dict[str, str | SharedResolution]:
        with self._db.read() as db:
            found = {k: self._resolve(db, k) for k in keys}
        return {k: v for k, v in found.items() if v is not None}

    def resolve_people(self, keys: Collection[str]) -> dict[str, PersonGraph | SharedResolution]:
        out: dict[str, PersonGraph | SharedResolution] = {}
        with self._db.read() as db:  # one snapshot for the whole batch
            for k in keys:
                found = self._resolve(db, k)
                graph = self._person_graph(db, found) if isinstance(found, str) else found
                if graph is not None:
                    out[k] = graph
        return out

    def live_persons(self, person_ids: Collection[str]) -> dict[str, str]:
        with self._db.read() as db:
            found = {p: self._canonical(db, p) for p in person_ids}
        return {p: v for p, v in found.items() if v is not None}

    def _canonical(self, db: sqlite3.Connection, person_id: str) -> str | None:
        if db.execute("SELECT 1 FROM persons WHERE id = ?", (person_id,)).fetchone():
            return person_id
        row = db.execute("SELECT person_id FROM aliases WHERE alias = ?", (person_id,)).fetchone()
        return row[0] if row else None

    def person_graph(self, person_id: str) -> PersonGraph | None:
        with self._db.read() as db:
            return self._person_graph(db, person_id)

    def _person_graph(self, db: sqlite3.Connection, person_id: str) -> PersonGraph | None:
        pid = self._canonical(db, person_id)
        if pid is None:
            return None
        cols = "i.key, i.shared, i.first_seen, i.last_seen"
        rows = db.execute(f"SELECT {cols} FROM identifiers i WHERE i.person_id = ? ORDER BY i.key", (pid,))
        shared = db.execute(
            f"SELECT {cols} FROM shared_uses s JOIN identifiers i ON i.key = s.key "
            "WHERE s.person_id = ? ORDER BY i.key",
            (pid,),
        )
        nodes = [
            PersonNode(k, type_of(k), display_of(k), bool(sh), fs, ls) for k, sh, fs, ls in [*rows, *shared]
        ]
        keys = {n.key for n in nodes}
        edges = [
            EdgeState(a, b, fs, ls, ch, rule, EvidenceClass(st), n)
            for batch in chunked(
                db,
                "SELECT a, b, first_seen, last_seen, channel, rule, strength, "
                "event_count FROM edges WHERE a IN ({}) ORDER BY a, b",
                keys,
            )
            for a, b, fs, ls, ch, rule, st, n in batch
            if b in keys
        ]
        aliases = tuple(
            a for (a,) in db.execute("SELECT alias FROM aliases WHERE person_id = ? ORDER BY alias", (pid,))
        )
        own = [n.key for n in nodes if not n.shared]
        unapplied = sorted(
            (
                UnappliedLink(mine, other_pid, EdgeState(a, b, fs, ls, ch, rule, EvidenceClass(st), n))
                for mine_col, other_col in (("a", "b"), ("b", "a"))
                for rows in chunked(
                    db,
                    "SELECT e.a, e.b, e.first_seen, e.last_seen, e.channel, e.rule, e.strength, "
                    f"e.event_count, e.{mine_col}, i.person_id FROM edges e "
                    f"JOIN identifiers i ON i.key = e.{other_col} "
                    f"WHERE e.{mine_col} IN ({{}}) AND e.strength IN {WEAK_CLASSES} "
                    "AND i.person_id IS NOT NULL",
                    own,
                )
                for a, b, fs, ls, ch, rule, st, n, mine, other_pid in rows
                if other_pid != pid
            ),
            key=lambda u: (u.key, u.other_person_id, u.edge.a, u.edge.b),
        )
        return PersonGraph(pid, aliases, tuple(nodes), tuple(edges), tuple(unapplied))

    def ping(self) -> None:
        self._db.ping()

    def close(self) -> None:
        self._db.close()


def _found(s: IdentifierState) -> Found:
    return (s.type, s.person_id, s.shared, s.weak_since, s.weak_via), s.first_seen, s.last_seen


def _sighted(
    states: Iterable[IdentifierState], seen: Mapping[str, Found]
) -> tuple[list[tuple[int, int, str]], list[IdentifierState]]:
    """The identifiers only seen again — where they are, as they were, and only their times
    moved — apart from the rest; those whose times did not move either (a late or repeated
    sighting) are left out. Setting an indexed column rewrites its index entry even to the
    same value, so the full upsert of a re-sighted identifier dirtied a page of
    `identifiers_person` (and of `identifiers_weak_via`) for nothing: 288 of a late batch's
    4,074 written pages (bench.batch_pages)."""
    sighted: list[tuple[int, int, str]] = []
    placed: list[IdentifierState] = []
    for s in states:
        was = seen.get(s.key)
        now = _found(s)
        if was is None or was[0] != now[0]:
            placed.append(s)
        elif was != now:
            sighted.append((s.first_seen, s.last_seen, s.key))
    return sighted, placed
