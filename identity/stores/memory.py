"""An identity graph held in memory: the same port and the same contract suite as the SQLite and
Neo4j stores (tests/contract/test_identity_graph.py runs it beside them), for the tests that
exercise the stitching rules thousands of times (the property tests) and want no file per
example. Not a backend to configure: it forgets everything when the process ends.

A batch runs under one lock and applies a copy-on-write change set only once its plan returned,
so batches are serializable and a plan that raises leaves the graph as it was — what the other
stores get from their transactions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import TypeVar

from identity.identifiers import WEAK_CLASSES, display_of, type_of
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
WEAK_HOPS = 4
"""How far the snapshot follows identifiers joined through a weak link (as the SQLite store)."""


class MemoryIdentityGraph:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._persons: dict[str, int] = {}
        """Live person id → first seen."""
        self._aliases: dict[str, str] = {}
        self._identifiers: dict[str, IdentifierState] = {}
        self._edges: dict[tuple[str, str], EdgeState] = {}
        self._shared_uses: set[tuple[str, str]] = set()
        self._events: dict[str, str | None] = {}
        self._outbox: dict[str, OutboxEntry] = {}

    # -- writes ------------------------------------------------------------------------------

    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        with self._lock:
            changes, result = plan(self._snapshot(keys, pairs, event_ids))
            self._apply(changes)
        return result

    def _snapshot(
        self, keys: Collection[str], pairs: Collection[tuple[str, str]], event_ids: Collection[str]
    ) -> Snapshot:
        idents: dict[str, IdentifierState] = {}

        def load(wanted: Collection[str]) -> list[str]:
            found = []
            for k in wanted:
                s = self._identifiers.get(k)
                if s is not None and k not in idents:
                    idents[k] = replace(s)  # the engine changes its copy, never the store's
                    found.append(k)
            return found

        frontier = load(keys)
        for _ in range(WEAK_HOPS):
            if not frontier:
                break
            via = set(frontier)
            frontier = load([k for k, s in self._identifiers.items() if s.weak_via in via])
        load([s.weak_via for s in idents.values() if s.weak_via and s.weak_via not in idents])
        persons: dict[str, PersonState] = {}
        for pid in {s.person_id for s in idents.values() if s.person_id is not None}:
            if pid in self._persons:
                persons[pid] = PersonState(pid, self._persons[pid], self._counts(pid))
        edges = {p: replace(self._edges[p]) for p in pairs if p in self._edges}
        known = {e: self._live(self._events[e]) for e in event_ids if e in self._events}
        return Snapshot(idents, persons, edges, known)

    def _counts(self, pid: str) -> Counter[str]:
        return Counter(s.type for s in self._identifiers.values() if s.person_id == pid)

    def _live(self, pid: str | None) -> str | None:
        return None if pid is None else self._aliases.get(pid, pid)

    def _apply(self, ch: ChangeSet) -> None:
        self._persons.update(ch.new_persons)
        for loser, survivor in ch.final_merges().items():
            for s in self._identifiers.values():
                if s.person_id == loser:
                    s.person_id = survivor
            for alias, pid in list(self._aliases.items()):
                if pid == loser:
                    self._aliases[alias] = survivor
            for key, pid in [u for u in self._shared_uses if u[1] == loser]:
                self._shared_uses.discard((key, pid))
                self._shared_uses.add((key, survivor))
            self._aliases[loser] = survivor
            self._persons.pop(loser, None)
        for s in ch.identifiers.values():
            self._identifiers[s.key] = replace(s)
        for pair, e in ch.edges.items():
            self._edges[pair] = replace(e)
        self._shared_uses |= set(ch.shared_uses)
        if ch.outbox is not None:
            self._outbox[ch.outbox.id] = ch.outbox
        for r in ch.events:
            self._events[r.event_id] = r.person_id

    def outbox(self, before: int, limit: int) -> list[OutboxEntry]:
        with self._lock:
            due = sorted((e for e in self._outbox.values() if e.at < before), key=lambda e: (e.at, e.id))
        return due[:limit]

    def outbox_done(self, ids: Collection[str]) -> None:
        with self._lock:
            for i in ids:
                self._outbox.pop(i, None)

    def detach(
        self,
        key: str,
        *,
        new_person_id: str | None,
        outbox: Callable[[str], OutboxEntry] | None = None,
    ) -> str | None:
        with self._lock:
            s = self._identifiers.get(key)
            if s is None or s.person_id is None or s.shared:
                return None
            pid = s.person_id
            entry = outbox(pid) if outbox is not None else None  # before any change: it may raise
            if new_person_id is not None:
                if sum(x.person_id == pid for x in self._identifiers.values()) < 2:
                    return None
                self._persons[new_person_id] = s.first_seen
                s.person_id = new_person_id
            else:
                s.person_id, s.shared = None, True
                self._shared_uses.add((key, pid))
            if entry is not None:
                self._outbox[entry.id] = entry
            return pid

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        with self._lock:
            pid = self._canonical(person_id)
            if pid is None:
                return None
            keys = sorted(k for k, s in self._identifiers.items() if s.person_id == pid)
            mine = set(keys)
            gone_edges = [p for p in self._edges if p[0] in mine or p[1] in mine]
            for p in gone_edges:
                del self._edges[p]
            for k in keys:
                del self._identifiers[k]
            for s in self._identifiers.values():
                if s.weak_via in mine:
                    s.weak_via = None
            uses = [u for u in self._shared_uses if u[1] == pid]
            self._shared_uses -= set(uses)
            aliases = [a for a, p in self._aliases.items() if p == pid]
            for a in aliases:
                del self._aliases[a]
            del self._persons[pid]
            recorded = [e for e in set(event_ids) if e in self._events]
            for e in recorded:
                del self._events[e]
            events = len(recorded)
        return GraphErasure(tuple(keys), len(gone_edges), len(aliases), len(uses), events)

    # -- reads -------------------------------------------------------------------------------

    def persons_linked_to(self, keys: Collection[str]) -> set[str]:
        wanted = set(keys)
        with self._lock:
            found = set()
            for a, b in self._edges:
                for mine, other in ((a, b), (b, a)):
                    s = self._identifiers.get(other)
                    if mine in wanted and s is not None and s.person_id is not None:
                        found.add(s.person_id)
        return found

    def resolve(self, key: str) -> str | SharedResolution | None:
        with self._lock:
            s = self._identifiers.get(key)
            if s is None:
                return None
            if s.shared:
                return SharedResolution(key, tuple(sorted(p for k, p in self._shared_uses if k == key)))
            return s.person_id

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        with self._lock:
            found = self.resolve(key)
            return self.person_graph(found) if isinstance(found, str) else found

    def live_person(self, person_id: str) -> str | None:
        with self._lock:
            return self._canonical(person_id)

    def resolve_many(self, keys: Collection[str]) -> dict[str, str | SharedResolution]:
        with self._lock:
            return {k: v for k in keys if (v := self.resolve(k)) is not None}

    def resolve_people(self, keys: Collection[str]) -> dict[str, PersonGraph | SharedResolution]:
        with self._lock:
            return {k: v for k in keys if (v := self.resolve_person(k)) is not None}

    def live_persons(self, person_ids: Collection[str]) -> dict[str, str]:
        with self._lock:
            return {p: v for p in person_ids if (v := self._canonical(p)) is not None}

    def _canonical(self, person_id: str) -> str | None:
        if person_id in self._persons:
            return person_id
        return self._aliases.get(person_id)

    def person_graph(self, person_id: str) -> PersonGraph | None:
        with self._lock:
            pid = self._canonical(person_id)
            if pid is None:
                return None
            own = sorted(k for k, s in self._identifiers.items() if s.person_id == pid)
            used = sorted(k for k, p in self._shared_uses if p == pid)
            nodes = [self._node(k) for k in [*own, *used]]
            keys = {n.key for n in nodes}
            edges = sorted(
                (replace(e) for (a, b), e in self._edges.items() if a in keys and b in keys),
                key=lambda e: (e.a, e.b),
            )
            unapplied = []
            mine = set(own)
            for (a, b), e in self._edges.items():
                if e.proves not in WEAK_CLASSES:
                    continue
                for key, other in ((a, b), (b, a)):
                    o = self._identifiers.get(other)
                    if key in mine and o is not None and o.person_id is not None and o.person_id != pid:
                        unapplied.append(UnappliedLink(key, o.person_id, replace(e)))
            unapplied.sort(key=lambda u: (u.key, u.other_person_id, u.edge.a, u.edge.b))
            aliases = tuple(sorted(a for a, p in self._aliases.items() if p == pid))
            return PersonGraph(pid, aliases, tuple(nodes), tuple(edges), tuple(unapplied))

    def _node(self, key: str) -> PersonNode:
        s = self._identifiers[key]
        return PersonNode(key, type_of(key), display_of(key), s.shared, s.first_seen, s.last_seen)

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass
