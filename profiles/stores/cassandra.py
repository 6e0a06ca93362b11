"""The profile store in Apache Cassandra, written by any number of idstitch servers at once.

Design note
-----------
Data model (two tables; `ns` is a namespace, so several stores can share a keyspace):

* `person_log`, partition `(ns, person_id)`: one clustering row per event of the person
  (`event_id` → occurred_at, identifier keys, facts) and, as static columns of the same partition,
  the materialized profile (`state`), a `version`, and the merge bookkeeping (`merged_into`,
  `pending`, `absorbed`). GetProfile reads the static columns only: one single-partition read.
* `event_claims`, partition `(ns, event_id)`: which partition is responsible for each event, so a
  redelivered event is recognized wherever it landed (the person it belongs to may have merged since).

No lost updates. Cassandra has no multi-partition transactions, and a plain read-modify-write of a
profile loses one of two concurrent folds. So every change to a person partition is a lightweight
transaction on that partition: a conditional batch that inserts the event rows and sets the new
state `IF version = <the version read>`. A batch applies atomically and in isolation within one
partition, so the profile and the events it was folded from never disagree; a writer that lost the
race re-reads and folds again. Which events are new is decided by claims: `INSERT … IF NOT EXISTS` on
`event_claims` gives each event id to exactly one partition, once, across all servers; an event whose
claim already exists is folded only if its row is missing from the claiming partition (the first
attempt died between the claim and the fold) — and that check, too, is guarded by the version.

Merges span two partitions, so they are a small protocol of single-partition transactions, each
idempotent, whose intermediate states any writer can finish: (1) the survivor records the loser in
`pending`; (2) the loser is frozen (`merged_into`), after which nothing folds into it; (3) the
survivor merges the loser's final state into its own, moves it from `pending` to `absorbed` — one
transaction. A server that dies between steps leaves a `pending` entry that the next write to the
survivor (or through the frozen loser, or the batch's retry) completes; until then the merge is not
yet visible — each side reads as before it, except that a read through a frozen loser's id shows
the survivor without the loser's part. Nothing folded into either side is lost
(tests/test_cassandra_store.py stops a merge after each step). The loser's event rows stay where
they are: a person's events are its partition plus the `absorbed` ones (one multi-partition read
when a split or an export needs them). A frozen partition's unfolded claims are moved to the
survivor with a conditional update.

Splits (`reattribute`) move rows to their new owners, then set each touched person's refolded state
`IF version = <read>`; if any person changed meanwhile the whole split is recomputed from where the
rows now are, which converges because every step is idempotent. Until a split finishes, readers
may see a part without the moved events; a split interrupted by a failure is finished by retrying
it (DetachIdentifier and Erase are idempotent).

Partition size: an event row is a few hundred bytes, so a person with 10,000 events is a few MB,
well below Cassandra's guidance for partitions; merges spread a person over several partitions.
For unbounded histories set `event_ttl_seconds`: rows (and claims) expire, the folded profile keeps
what they contributed, and a split can then refold only the events still held.

Erasure deletes every partition of the person (its own and the absorbed ones) and their claims.
Cassandra deletes by writing tombstones: the data stops being readable at once, but its bytes leave
the disk only when compaction drops them, after the table's `gc_grace_seconds` (10 days by default,
so that a replica that was down learns of the deletion). Operators who must bound that time lower
`gc_grace_seconds` on both tables and run repairs within it.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cassandra.query import BatchStatement, BatchType

from common.errors import StoreUnavailable
from profiles.events import decode_facts, encode_facts
from profiles.ports import Folding, LoggedEvent, Prefold
from profiles.state import ProfileState, decode_state, encode_state
from profiles.stores.cassandra_cql import (
    NAME,
    CassandraConnection,
    CassandraEndpoint,
    column,
    unavailable_on_driver_errors,
)

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
MAX_ROUNDS = 60
"""Attempts of one write under contention before the caller gets UNAVAILABLE (and retries)."""
HEADS_PER_READ = 100
"""Partitions per multi-partition head read."""
MAX_CHAIN = 1000
"""Merged-into hops followed before a chain is declared broken (a chain is never this long)."""


def _connected(merges: Mapping[str, str]) -> list[list[tuple[str, str]]]:
    """The merges grouped by the persons they touch (union-find), each group in the given order."""
    parent: dict[str, str] = {}

    def root(p: str) -> str:
        while parent.setdefault(p, p) != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for loser, survivor in merges.items():
        parent[root(loser)] = root(survivor)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in merges.items():
        groups[root(pair[0])].append(pair)
    return list(groups.values())


@dataclass(frozen=True, slots=True)
class _Head:
    """The static part of a person partition."""

    person_id: str
    version: int | None = None
    state: bytes | None = None
    merged_into: str | None = None
    pending: frozenset[str] = frozenset()
    absorbed: frozenset[str] = frozenset()

    def decoded(self) -> ProfileState | None:
        return None if self.state is None else decode_state(self.state)


@dataclass
class _Split:
    """One computation of a split: events by owner, and the rows to move."""

    heads: dict[str, _Head]
    owned: dict[str, dict[str, LoggedEvent]] = field(default_factory=lambda: defaultdict(dict))
    moves: list[tuple[str, str | None, LoggedEvent]] = field(default_factory=list)
    """(from partition, to person or None, event)."""


class CassandraProfileStore:
    def __init__(
        self,
        endpoint: CassandraEndpoint,
        *,
        keyspace: str = "idstitch",
        replication: Mapping[str, str | int] | None = None,
        namespace: str = "main",
        event_ttl_seconds: int | None = None,
    ) -> None:
        if not NAME.match(namespace):
            raise ValueError("namespace: lower-case letters, digits and underscores, starting with a letter")
        self._conn = CassandraConnection.open(endpoint)
        self._conn.ensure_schema(
            keyspace, replication or {"class": "SimpleStrategy", "replication_factor": 1}, TABLES
        )
        self._ns = namespace
        self._ttl = event_ttl_seconds or 0
        q = self._conn.prepare
        log, claims = f"{keyspace}.person_log", f"{keyspace}.event_claims"
        where = "WHERE ns = ? AND person_id = ?"
        # DISTINCT reads the static columns alone, not the first event row with them.
        head = f"SELECT DISTINCT ns, person_id, version, state, merged_into, pending, absorbed FROM {log}"
        self._head_q = q(f"{head} {where}")
        self._heads_q = q(f"{head} WHERE ns = ? AND person_id IN ?")
        self._event_ids_q = q(f"SELECT event_id FROM {log} WHERE ns = ? AND person_id IN ?")
        self._present_q = q(f"SELECT event_id FROM {log} {where} AND event_id IN ?")
        self._rows_q = q(
            f"SELECT person_id, event_id, occurred_at, keys, facts FROM {log} WHERE ns = ? AND person_id IN ?"
        )
        self._insert_row = q(
            f"INSERT INTO {log} (ns, person_id, event_id, occurred_at, keys, facts) "
            "VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
        )
        self._delete_row = q(f"DELETE FROM {log} {where} AND event_id = ?")
        self._delete_partition = q(f"DELETE FROM {log} {where}")
        self._set_state = q(f"UPDATE {log} SET state = ?, version = ? {where} IF version = ?")
        self._add_pending = q(f"UPDATE {log} SET pending = pending + ?, version = ? {where} IF version = ?")
        self._drop_pending = q(f"UPDATE {log} SET pending = pending - ?, version = ? {where} IF version = ?")
        self._freeze = q(f"UPDATE {log} SET merged_into = ?, version = ? {where} IF version = ?")
        self._absorb = q(
            f"UPDATE {log} SET state = ?, pending = pending - ?, absorbed = absorbed + ?, version = ? "
            f"{where} IF version = ?"
        )
        self._claim = q(
            f"INSERT INTO {claims} (ns, event_id, person_id) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ?"
        )
        self._reclaim = q(f"UPDATE {claims} SET person_id = ? WHERE ns = ? AND event_id = ? IF person_id = ?")
        self._move_claim = q(f"UPDATE {claims} USING TTL ? SET person_id = ? WHERE ns = ? AND event_id = ?")
        self._drop_claim = q(f"DELETE FROM {claims} WHERE ns = ? AND event_id = ?")
        self._ping = q("SELECT release_version FROM system.local")

    # -- partitions --------------------------------------------------------------------------

    def _heads(self, person_ids: Collection[str]) -> dict[str, _Head]:
        """Heads of many partitions in few requests (IN lists of HEADS_PER_READ): a batch's
        persons cost the driver a handful of requests rather than one each."""
        ids = list(dict.fromkeys(person_ids))
        if len(ids) == 1:  # the page-render path: one single-partition read, routed by token
            statements: list[tuple[Any, tuple[Any, ...]]] = [(self._head_q, (self._ns, ids[0]))]
        else:
            statements = [
                (self._heads_q, (self._ns, ids[i : i + HEADS_PER_READ]))
                for i in range(0, len(ids), HEADS_PER_READ)
            ]
        heads = {pid: _Head(pid) for pid in ids}
        for rs in self._conn.run_all(statements):
            for _, pid, version, state, merged_into, pending, absorbed in rs:
                heads[pid] = _Head(
                    pid, version, state, merged_into, frozenset(pending or ()), frozenset(absorbed or ())
                )
        return heads

    def _head(self, person_id: str) -> _Head:
        return self._heads([person_id])[person_id]

    def _live(self, person_id: str, folding: Folding | None = None) -> _Head:
        """The head of the live person `person_id` names (itself, or where its merges led). With
        `folding`, merges left pending by a failed writer are finished first."""
        return self._live_from(self._head(person_id), folding)

    def _live_from(self, head: _Head, folding: Folding | None) -> _Head:
        for _ in range(MAX_CHAIN):
            if head.merged_into is not None:
                head = self._head(head.merged_into)
            elif head.pending and folding is not None:
                for loser in sorted(head.pending):
                    self._complete_merge(head.person_id, loser, folding)
                head = self._head(head.person_id)
            else:
                return head
        raise StoreUnavailable("cassandra: a merge chain does not end")

    def _cas(self, stmt: Any, params: Sequence[Any]) -> bool:
        """Runs one conditional statement; True when it applied."""
        return bool(self._conn.session.execute(stmt, params).was_applied)

    def _next(self, head: _Head) -> tuple[int, str, str, int | None]:
        """The bound tail of a conditional static update: new version, partition, expected version."""
        return ((head.version or 0) + 1, self._ns, head.person_id, head.version)

    def _row(self, person_id: str, e: LoggedEvent) -> tuple[Any, tuple[Any, ...]]:
        f = e.facts
        return self._insert_row, (
            self._ns,
            person_id,
            f.event_id,
            f.occurred_at,
            list(e.keys),
            encode_facts(f),
            self._ttl,
        )

    # -- writes ------------------------------------------------------------------------------

    @unavailable_on_driver_errors
    def append(
        self,
        *,
        events: Sequence[LoggedEvent],
        merges: Mapping[str, str],
        folding: Folding,
        prefolded: Mapping[str, Prefold] | None = None,
    ) -> set[str]:
        """`prefolded` is not used: each profile is written by a lightweight transaction that folds
        the events it claimed against the state it read (the prefold still proved, before the
        graph committed, that the events fold)."""
        self._merge_all(merges, folding)
        first: dict[str, LoggedEvent] = {}
        for e in events:
            first.setdefault(e.facts.event_id, e)
        named = {e.person_id for e in first.values() if e.person_id is not None}
        heads = self._heads(named)
        live = {p: self._live_from(h, folding) for p, h in heads.items()}
        claims = self._conn.run_all(
            [
                (self._claim, (self._ns, eid, e.person_id and live[e.person_id].person_id, self._ttl))
                for eid, e in first.items()
            ]
        )
        claimed: dict[str, list[LoggedEvent]] = defaultdict(list)  # fresh claims: nothing folded them yet
        unsure: dict[str, list[LoggedEvent]] = defaultdict(list)  # claimed before: fold if missing
        new: set[str] = set()
        for (eid, e), rs in zip(first.items(), claims, strict=True):
            if rs.was_applied:
                if e.person_id is None:
                    new.add(eid)  # recorded for no one
                else:
                    claimed[live[e.person_id].person_id].append(e)
            elif (holder := column(rs, rs.one(), "person_id")) is not None:
                unsure[holder].append(e)
        known = {h.person_id: h for h in live.values()}
        return new | self._fold(claimed, unsure, known, folding)

    def _fold(
        self,
        claimed: dict[str, list[LoggedEvent]],
        unsure: dict[str, list[LoggedEvent]],
        known: dict[str, _Head],
        folding: Folding,
    ) -> set[str]:
        """Folds each partition's events into it, one conditional batch per partition, all
        partitions at once; partitions that lost a race are read again and retried."""
        new: set[str] = set()
        for attempt in range(MAX_ROUNDS):
            todo = {p: claimed.get(p, []) + unsure.get(p, []) for p in set(claimed) | set(unsure)}
            if not todo:
                return new
            if attempt:
                time.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
            missing = [p for p in todo if p not in known]
            known.update(self._heads(missing))
            checks = {p: [e.facts.event_id for e in unsure[p]] for p in unsure}
            present = dict(
                zip(
                    checks,
                    self._conn.run_all([(self._present_q, (self._ns, p, ids)) for p, ids in checks.items()]),
                    strict=True,
                )
            )
            batches: dict[str, tuple[list[tuple[Any, Any]], list[str]]] = {}
            redirected: dict[str, list[LoggedEvent]] = defaultdict(list)
            for pid, evs in todo.items():
                head = known[pid]
                held = {r[0] for r in present[pid]} if pid in present else set()
                fresh = [e for e in evs if e.facts.event_id not in held]
                if not fresh:
                    continue
                if head.merged_into is not None:
                    for target, moved in self._redirect(pid, fresh, folding).items():
                        redirected[target].extend(moved)
                    continue
                if head.pending:
                    self._live_from(head, folding)
                    redirected[pid].extend(fresh)
                    continue
                state = folding.fold(head.decoded() or ProfileState(), (e.facts for e in fresh))
                stmts = [self._row(pid, e) for e in fresh]
                stmts.append((self._set_state, (encode_state(state), *self._next(head))))
                batches[pid] = (stmts, [e.facts.event_id for e in fresh])
            applied = self._run_batches({p: s for p, (s, _) in batches.items()})
            for pid, (_, ids) in batches.items():
                if applied[pid]:
                    new.update(ids)
                else:
                    redirected[pid].extend(todo[pid])
            claimed, unsure = {}, redirected  # anything retried is checked against its partition
            known = {p: h for p, h in known.items() if p not in redirected}
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def _run_batches(self, batches: Mapping[str, list[tuple[Any, Any]]]) -> dict[str, bool]:
        futures = {}
        for pid, stmts in batches.items():
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for stmt, params in stmts:
                batch.add(stmt, params)
            futures[pid] = self._conn.session.execute_async(batch)
        return {pid: bool(f.result().was_applied) for pid, f in futures.items()}

    def _redirect(
        self, frozen: str, events: list[LoggedEvent], folding: Folding
    ) -> dict[str, list[LoggedEvent]]:
        """Claims held by a frozen partition for events it never folded move to its survivor."""
        target = self._live(frozen, folding).person_id
        out: dict[str, list[LoggedEvent]] = defaultdict(list)
        results = self._conn.run_all(
            [(self._reclaim, (target, self._ns, e.facts.event_id, frozen)) for e in events]
        )
        for e, rs in zip(events, results, strict=True):
            holder = target if rs.was_applied else column(rs, rs.one(), "person_id")
            if holder is not None:
                out[holder].append(e)
        return out

    def _merge_all(self, merges: Mapping[str, str], folding: Folding) -> None:
        """Runs a batch's merges: those that share no person side by side (each merge is several
        round trips), those that do one after the other, in the order given."""
        groups = _connected(merges)
        if len(groups) <= 1:
            for loser, survivor in merges.items():
                self._merge(loser, survivor, folding)
            return

        def run(group: list[tuple[str, str]]) -> None:
            for loser, survivor in group:
                self._merge(loser, survivor, folding)

        for f in [self._conn.pool.submit(run, g) for g in groups]:
            f.result()

    def _merge(self, loser: str, survivor: str, folding: Folding) -> None:
        for _ in range(MAX_ROUNDS):
            lost, kept = self._live(loser, folding), self._live(survivor, folding)
            if lost.person_id == kept.person_id:
                return
            if lost.person_id in kept.pending or self._cas(
                self._add_pending, ({lost.person_id}, *self._next(kept))
            ):
                self._complete_merge(kept.person_id, lost.person_id, folding)
                return
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def _complete_merge(self, survivor: str, loser: str, folding: Folding, depth: int = 0) -> None:
        """Steps (2) and (3) of a merge the survivor has pending; safe to run by several writers."""
        if depth > MAX_CHAIN:
            raise StoreUnavailable("cassandra: merges pending in a cycle")
        for _ in range(MAX_ROUNDS):
            lost = self._head(loser)
            if lost.merged_into is None:
                for inner in sorted(lost.pending):  # the loser's own pending merges land first
                    self._complete_merge(loser, inner, folding, depth + 1)
                lost = self._head(loser)
                if lost.pending or lost.merged_into is not None:
                    continue
                if not self._cas(self._freeze, (survivor, *self._next(lost))):
                    continue
                lost = self._head(loser)
            kept = self._head(survivor)
            if loser not in kept.pending:
                return  # another writer finished it
            if lost.merged_into != survivor:  # the loser went elsewhere meanwhile: follow it
                if self._cas(self._drop_pending, ({loser}, *self._next(kept))):
                    self._merge(loser, survivor, folding)
                    return
                continue
            ours, theirs = kept.decoded(), lost.decoded()
            state = theirs if ours is None else ours if theirs is None else folding.merge(ours, theirs)
            blob = None if state is None else encode_state(state)
            absorbed = {loser} | set(lost.absorbed)
            if self._cas(self._absorb, (blob, {loser}, absorbed, *self._next(kept))):
                return
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    @unavailable_on_driver_errors
    def reattribute(
        self,
        *,
        person_ids: Collection[str],
        owner: Callable[[LoggedEvent], str | None],
        folding: Folding,
    ) -> dict[str, int]:
        for _ in range(MAX_ROUNDS):
            split = self._plan_split(person_ids, owner, folding)
            self._move_rows(split.moves)
            writes = {}
            for pid, head in split.heads.items():
                evs = split.owned.get(pid, {})
                state = folding.fold(ProfileState(), (e.facts for e in evs.values())) if evs else None
                blob = None if state is None else encode_state(state)
                writes[pid] = [(self._set_state, (blob, *self._next(head)))]
            applied = self._run_batches(writes)
            if all(applied.values()):
                return {pid: len(split.owned.get(pid, {})) for pid in split.heads}
        raise StoreUnavailable("cassandra: too much contention on the same persons")

    def _plan_split(
        self, person_ids: Collection[str], owner: Callable[[LoggedEvent], str | None], folding: Folding
    ) -> _Split:
        sources = {h.person_id: h for h in (self._live(p, folding) for p in person_ids)}
        split = _Split(heads=dict(sources))
        live: dict[str, str] = {}

        def live_id(pid: str) -> str:
            if pid not in live:
                head = self._live(pid, folding)
                live[pid] = head.person_id
                split.heads.setdefault(head.person_id, head)
            return live[pid]

        for located, e in self._located_events(sources.values()):
            new = owner(e)
            new = None if new is None else live_id(new)
            if new is not None:
                split.owned[new][e.facts.event_id] = LoggedEvent(new, e.keys, e.facts)
            if new is None or located not in self._scope(split.heads[new]):
                split.moves.append((located, new, e))
        gaining = [h for pid, h in split.heads.items() if pid not in sources]
        for _, e in self._located_events(gaining):
            assert e.person_id is not None
            split.owned[e.person_id].setdefault(e.facts.event_id, e)
        return split

    @staticmethod
    def _scope(head: _Head) -> set[str]:
        return {head.person_id} | set(head.absorbed)

    def _located_events(self, heads: Collection[_Head]) -> list[tuple[str, LoggedEvent]]:
        """Each event of these persons with the partition its row is in."""
        owner_of = {part: h.person_id for h in heads for part in self._scope(h)}
        if not owner_of:
            return []
        rows = self._conn.session.execute(self._rows_q, (self._ns, list(owner_of)))
        return [
            (part, LoggedEvent(owner_of[part], tuple(keys or ()), decode_facts(facts)))
            for part, event_id, _, keys, facts in rows
            if event_id is not None
        ]

    def _move_rows(self, moves: Sequence[tuple[str, str | None, LoggedEvent]]) -> None:
        """Row to its new partition, claim to it, row out of the old one (each step idempotent)."""
        self._conn.run_all([self._row(to, e) for _, to, e in moves if to is not None])
        self._conn.run_all(
            [(self._move_claim, (self._ttl, to, self._ns, e.facts.event_id)) for _, to, e in moves]
        )
        self._conn.run_all(
            [
                (self._delete_row, (self._ns, located, e.facts.event_id))
                for located, to, e in moves
                if located != to
            ]
        )

    @unavailable_on_driver_errors
    def erase(self, person_id: str) -> tuple[int, bool]:
        head = self._live_erasable(person_id)
        parts = self._scope(head)
        rows = self._conn.session.execute(self._event_ids_q, (self._ns, list(parts)))
        event_ids = {eid for (eid,) in rows if eid is not None}
        self._conn.run_all([(self._drop_claim, (self._ns, eid)) for eid in event_ids])
        self._conn.run_all([(self._delete_partition, (self._ns, p)) for p in parts])
        return len(event_ids), head.state is not None

    def _live_erasable(self, person_id: str) -> _Head:
        """Erasure has no folding at hand; a merge left pending is finished by state-only rules:
        the pending partitions are erased with the person."""
        head = self._live(person_id)
        pending = set(head.pending)
        if not pending:
            return head
        extra = {p for loser in pending for p in self._scope(self._head(loser))}
        return _Head(head.person_id, head.version, head.state, None, frozenset(), head.absorbed | extra)

    # -- reads -------------------------------------------------------------------------------

    @unavailable_on_driver_errors
    def get(self, person_id: str) -> ProfileState | None:
        return self._live(person_id).decoded()

    @unavailable_on_driver_errors
    def get_many(self, person_ids: Collection[str]) -> dict[str, ProfileState]:
        heads = self._heads(person_ids)
        out = {}
        for pid, head in heads.items():
            state = self._live_from(head, None).decoded()
            if state is not None:
                out[pid] = state
        return out

    @unavailable_on_driver_errors
    def events_of(self, person_id: str) -> list[LoggedEvent]:
        head = self._live(person_id)
        unique = {e.facts.event_id: e for _, e in self._located_events([head])}
        return sorted(unique.values(), key=lambda e: (e.facts.occurred_at, e.facts.event_id))

    @unavailable_on_driver_errors
    def ping(self) -> None:
        self._conn.session.execute(self._ping)

    def close(self) -> None:
        self._conn.release()
