"""The embedded profile store: the event log and the materialized profiles in one SQLite file
beside the graph's (see common.sqlite_db for the transaction model).

A profile row holds the msgpack-encoded state; the event log holds each event's facts, keyed by
event id (so a redelivery is recognized) and indexed by person (so a split can refold).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from common.sqlite_db import SqliteDatabase, chunked, translates_errors
from profiles.events import decode_facts, encode_facts
from profiles.ports import Appended, Folding, LoggedEvent, Prefold, Written
from profiles.scrub import scrubbed
from profiles.state import ProfileState, decode_state, encode_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles(person_id TEXT PRIMARY KEY, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS profile_aliases(alias TEXT PRIMARY KEY, person_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS profile_aliases_person ON profile_aliases(person_id);
CREATE TABLE IF NOT EXISTS profile_events(
    event_id TEXT NOT NULL UNIQUE, person_id TEXT, occurred_at INTEGER NOT NULL, keys TEXT NOT NULL,
    facts BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS profile_events_person ON profile_events(person_id, occurred_at);
"""


@translates_errors
class SqliteProfileStore:
    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        self._last: tuple[int, Mapping[str, Written]] = (-1, {})
        """The latest append's profiles and its transaction's version (common.sqlite_db): while no
        write has begun since, those are the stored profiles and a read-back needs no statement."""

    # -- writes ------------------------------------------------------------------------------

    def append(
        self,
        *,
        events: Sequence[LoggedEvent],
        merges: Mapping[str, str],
        folding: Folding,
        prefolded: Mapping[str, Prefold] | None = None,
    ) -> Appended:
        with self._db.write() as db:
            named = {e.person_id for e in events if e.person_id} | set(merges) | set(merges.values())
            alias = _aliases(db, named)
            states = _Loaded(db)
            for loser, survivor in merges.items():
                _merge(db, alias, states, folding, alias.get(loser, loser), alias.get(survivor, survivor))
            fresh = _unseen(db, events, alias)
            by_person: dict[str, list[LoggedEvent]] = defaultdict(list)
            for e in fresh:
                if e.person_id is not None:
                    by_person[e.person_id].append(e)
            states.load(by_person)
            pre = {alias.get(p, p): x for p, x in (prefolded or {}).items()}
            for pid, evs in by_person.items():
                stored = states.get(pid)
                done = pre.get(pid)
                if done is not None and done.event_ids == {e.facts.event_id for e in evs}:
                    states.put(pid, done.into(stored, [e.facts for e in evs], folding))
                else:  # a retry, or no prefold: fold what is new
                    states.put(pid, folding.fold(stored or ProfileState(), (e.facts for e in evs)))
            _insert_events(db, fresh)
            written = states.flush()
            version = self._db.version
        self._last = (version, written)  # once committed
        return Appended({e.facts.event_id for e in fresh}, written)

    def reattribute(
        self,
        *,
        person_ids: Collection[str],
        owner: Callable[[LoggedEvent], str | None],
        folding: Folding,
    ) -> dict[str, int]:
        with self._db.write() as db:
            alias = _aliases(db, person_ids)
            sources = {alias.get(p, p) for p in person_ids}
            moved: list[tuple[str | None, str]] = []
            by_person: dict[str, list[LoggedEvent]] = defaultdict(list)
            for e in _events(db, sources):
                new = owner(e)
                new = new and alias.get(new, new)
                if new != e.person_id:
                    moved.append((new, e.facts.event_id))
                if new is not None:
                    by_person[new].append(e)
            gaining = set(by_person) - sources  # persons outside the split that gained events
            for e in _events(db, gaining):  # their own events, read before the moved ones join them
                assert e.person_id is not None
                by_person[e.person_id].append(e)
            db.executemany("UPDATE profile_events SET person_id = ? WHERE event_id = ?", moved)
            touched = sources | gaining
            counts: dict[str, int] = {}
            states = _Loaded(db)
            for pid in touched:
                evs = by_person.get(pid, [])  # fold order does not matter (profiles.fold)
                counts[pid] = len(evs)
                if evs:
                    states.put(pid, folding.fold(ProfileState(), (e.facts for e in evs)))
                else:
                    states.take(pid)
            states.flush()
            return counts

    def erase(self, person_id: str) -> tuple[int, bool]:
        with self._db.write() as db:
            pid = _aliases(db, [person_id]).get(person_id, person_id)
            events = db.execute("DELETE FROM profile_events WHERE person_id = ?", (pid,)).rowcount
            profile = db.execute("DELETE FROM profiles WHERE person_id = ?", (pid,)).rowcount == 1
            db.execute("DELETE FROM profile_aliases WHERE person_id = ?1 OR alias = ?1", (pid,))
        self._db.purge_wal()
        return events, profile

    def scrub_keys(self, person_ids: Collection[str], keys: Collection[str]) -> dict[str, int]:
        gone = set(keys)
        per_person: dict[str, int] = defaultdict(int)
        with self._db.write() as db:
            alias = _aliases(db, person_ids)
            persons = {alias.get(p, p) for p in person_ids}
            sql = "SELECT person_id, event_id, keys, facts FROM profile_events WHERE person_id IN ({})"
            rewritten = []
            for rows in chunked(db, sql, persons):
                for pid, event_id, held, blob in rows:
                    found = scrubbed(held.split("\n") if held else [], decode_facts(blob), gone)
                    if found is not None:
                        rewritten.append(("\n".join(found[0]), encode_facts(found[1]), event_id))
                        per_person[pid] += 1
            db.executemany("UPDATE profile_events SET keys = ?, facts = ? WHERE event_id = ?", rewritten)
        if rewritten:
            self._db.purge_wal()
        return dict(per_person)

    # -- reads -------------------------------------------------------------------------------

    def get(self, person_id: str) -> ProfileState | None:
        rows = self._db.fetch(
            "SELECT state FROM profiles WHERE person_id = "
            "coalesce((SELECT person_id FROM profile_aliases WHERE alias = ?1), ?1)",
            (person_id,),
        )
        row = rows[0] if rows else None
        return None if row is None else decode_state(row[0])

    def get_many(
        self, person_ids: Collection[str], *, known: Mapping[str, Written] | None = None
    ) -> dict[str, ProfileState]:
        out = self._as_last_written(person_ids, known or {})
        rest = [p for p in person_ids if p not in out]
        return out | self._read_many(rest, known) if rest else out

    def _as_last_written(
        self, person_ids: Collection[str], known: Mapping[str, Written]
    ) -> dict[str, ProfileState]:
        """The persons the caller knows as the latest append wrote them, when no write has begun
        since: the change feed's read-back of a batch then costs no statement (on a connection of
        its own, every read after a commit starts with an empty page cache)."""
        version, written = self._last
        if not known or version != self._db.version:
            return {}
        return {p: w.state for p in person_ids if (w := written.get(p)) is not None and known.get(p) is w}

    def _read_many(
        self, person_ids: Collection[str], known: Mapping[str, Written] | None
    ) -> dict[str, ProfileState]:
        with self._db.read() as db:
            alias = _aliases(db, person_ids)
            canonical = {p: alias.get(p, p) for p in person_ids}
            sql = "SELECT person_id, state FROM profiles WHERE person_id IN ({})"
            found = {pid: state for rows in chunked(db, sql, set(canonical.values())) for pid, state in rows}
        states = {c: _state(blob, (known or {}).get(c)) for c, blob in found.items()}
        return {p: states[c] for p, c in canonical.items() if c in states}

    def events_of(self, person_id: str) -> list[LoggedEvent]:
        with self._db.read() as db:
            pid = _aliases(db, [person_id]).get(person_id, person_id)
            return _events(db, [pid])

    def ping(self) -> None:
        self._db.ping()

    def close(self) -> None:
        self._last = (-1, {})  # a read-back after close is refused, like every other use
        self._db.close()


class _Loaded:
    """Profile states read in this transaction, and what to write back at the end."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._states: dict[str, ProfileState | None] = {}
        self._dirty: set[str] = set()

    def load(self, person_ids: Collection[str]) -> None:
        wanted = [p for p in person_ids if p not in self._states]
        for rows in chunked(
            self._db, "SELECT person_id, state FROM profiles WHERE person_id IN ({})", wanted
        ):
            for pid, blob in rows:
                self._states[pid] = decode_state(blob)
        for p in wanted:
            self._states.setdefault(p, None)

    def get(self, pid: str) -> ProfileState | None:
        self.load([pid])
        return self._states[pid]

    def take(self, pid: str) -> ProfileState | None:
        state = self.get(pid)
        self._states[pid] = None
        self._dirty.add(pid)
        return state

    def put(self, pid: str, state: ProfileState) -> None:
        self._states[pid] = state
        self._dirty.add(pid)

    def flush(self) -> dict[str, Written]:
        gone = [(p,) for p in self._dirty if self._states[p] is None]
        kept = {p: Written(s, encode_state(s)) for p in self._dirty if (s := self._states[p]) is not None}
        self._db.executemany("DELETE FROM profiles WHERE person_id = ?", gone)
        self._db.executemany(
            "INSERT INTO profiles(person_id, state) VALUES (?, ?) "
            "ON CONFLICT(person_id) DO UPDATE SET state = excluded.state",
            ((p, w.stored) for p, w in kept.items()),
        )
        return kept


def _state(blob: bytes, written: Written | None) -> ProfileState:
    """The stored profile: the state an append wrote when these are still its bytes."""
    return written.state if written is not None and written.stored == blob else decode_state(blob)


def _merge(
    db: sqlite3.Connection,
    alias: dict[str, str],
    states: _Loaded,
    folding: Folding,
    lost: str,
    kept: str,
) -> None:
    """The loser's profile merges into the survivor's; its events and aliases move over."""
    if lost == kept:
        return
    absorbed = states.take(lost)
    if absorbed is not None:
        states.put(kept, folding.merge(states.get(kept) or ProfileState(), absorbed))
    db.execute("UPDATE profile_events SET person_id = ? WHERE person_id = ?", (kept, lost))
    db.execute("UPDATE profile_aliases SET person_id = ? WHERE person_id = ?", (kept, lost))
    db.execute("INSERT OR REPLACE INTO profile_aliases(alias, person_id) VALUES (?, ?)", (lost, kept))
    for a, p in list(alias.items()):
        if p == lost:
            alias[a] = kept
    alias[lost] = kept


def _unseen(
    db: sqlite3.Connection, events: Sequence[LoggedEvent], alias: Mapping[str, str]
) -> list[LoggedEvent]:
    """The events not recorded before (the first of repeats within the batch), on their live person."""
    sql = "SELECT event_id FROM profile_events WHERE event_id IN ({})"
    known = {e for rows in chunked(db, sql, (e.facts.event_id for e in events)) for (e,) in rows}
    fresh: list[LoggedEvent] = []
    for e in events:
        if e.facts.event_id not in known:
            known.add(e.facts.event_id)
            fresh.append(LoggedEvent(e.person_id and alias.get(e.person_id, e.person_id), e.keys, e.facts))
    return fresh


def _aliases(db: sqlite3.Connection, ids: Collection[str]) -> dict[str, str]:
    return {
        a: p
        for rows in chunked(db, "SELECT alias, person_id FROM profile_aliases WHERE alias IN ({})", ids)
        for a, p in rows
    }


def _events(db: sqlite3.Connection, person_ids: Collection[str]) -> list[LoggedEvent]:
    out = [
        LoggedEvent(pid, tuple(keys.split("\n")) if keys else (), decode_facts(blob))
        for rows in chunked(
            db,
            "SELECT person_id, keys, facts FROM profile_events WHERE person_id IN ({})",
            person_ids,
        )
        for pid, keys, blob in rows
    ]
    out.sort(key=lambda e: (e.facts.occurred_at, e.facts.event_id))
    return out


def _insert_events(db: sqlite3.Connection, events: Sequence[LoggedEvent]) -> None:
    db.executemany(
        "INSERT INTO profile_events(event_id, person_id, occurred_at, keys, facts) VALUES (?,?,?,?,?)",
        (
            (e.facts.event_id, e.person_id, e.facts.occurred_at, "\n".join(e.keys), encode_facts(e.facts))
            for e in events
        ),
    )
