"""The identity graph and the profile store behind a ReadCache (readcache/cache.py): the same
ports, so the domain does not know the cache is there. Reads are answered from it when it can
and the wrapper was made `answering=True` (the page-render readers); every read's answer is kept
for those; every write drops the persons it can have changed — once the write returns, or fails, so that
a write whose outcome is unknown (a lost commit acknowledgement) drops them too. A store is
wrapped whole, so no write path of this server can leave a stale answer behind."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from identity.model import (
    ChangeSet,
    GraphErasure,
    OutboxEntry,
    PersonGraph,
    SharedResolution,
    Snapshot,
)
from identity.ports import IdentityGraph
from profiles.ports import Appended, Folding, LoggedEvent, Prefold, ProfileStore, Written
from profiles.state import ProfileState
from readcache.cache import ReadCache

R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")
W = TypeVar("W")


class CachedGraph:
    def __init__(self, inner: IdentityGraph, cache: ReadCache, *, answering: bool = False) -> None:
        """`answering`: reads may be answered from memory (else they go to the store, and what
        they bring back is kept for the reads that may)."""
        self.inner = inner
        self._cache = cache
        self._memory = _Memory(cache, answering)

    def __getattr__(self, name: str) -> Any:  # what the port does not name (a store's own tools)
        return getattr(self.inner, name)

    # -- writes ------------------------------------------------------------------------------

    def stitch(
        self,
        *,
        keys: Collection[str],
        pairs: Collection[tuple[str, str]],
        event_ids: Collection[str],
        plan: Callable[[Snapshot], tuple[ChangeSet, R]],
    ) -> R:
        changed: set[str] = set()

        def planned(snap: Snapshot) -> tuple[ChangeSet, R]:
            changes, out = plan(snap)
            changed.clear()  # a retried transaction plans again: its last plan is what commits
            changed.update(changes.persons_changed(snap))
            return changes, out

        try:
            return self.inner.stitch(keys=keys, pairs=pairs, event_ids=event_ids, plan=planned)
        finally:
            self._cache.invalidate(changed, keys=keys)  # keys: graphs showing a shared one of them

    def detach(
        self, key: str, *, new_person_id: str | None, outbox: Callable[[str], OutboxEntry] | None = None
    ) -> str | None:
        left = None
        try:
            left = self.inner.detach(key, new_person_id=new_person_id, outbox=outbox)
            return left
        finally:
            self._cache.invalidate([p for p in (left, new_person_id) if p], keys=[key])

    def erase_person(self, person_id: str, event_ids: Collection[str]) -> GraphErasure | None:
        try:
            return self.inner.erase_person(person_id, event_ids)
        finally:
            self._cache.invalidate([person_id])

    def persons_linked_to(self, keys: Collection[str]) -> set[str]:
        return self.inner.persons_linked_to(keys)

    def outbox(self, before: int, limit: int) -> list[OutboxEntry]:
        return self.inner.outbox(before, limit)

    def outbox_done(self, ids: Collection[str]) -> None:
        self.inner.outbox_done(ids)

    # -- reads -------------------------------------------------------------------------------

    def resolve(self, key: str) -> str | SharedResolution | None:
        return _one(self._memory, key, self._memory.person_of, self.inner.resolve, self._keep_holder)

    def resolve_person(self, key: str) -> PersonGraph | SharedResolution | None:
        return _one(self._memory, key, self._held_graph, self.inner.resolve_person, self._keep_resolved)

    def live_person(self, person_id: str) -> str | None:
        return _one(self._memory, person_id, self._memory.live, self.inner.live_person, self._keep_live)

    def person_graph(self, person_id: str) -> PersonGraph | None:
        return _one(self._memory, person_id, self._memory.graph, self.inner.person_graph, self._keep_graph)

    def resolve_many(self, keys: Collection[str]) -> dict[str, str | SharedResolution]:
        return _many(self._memory, keys, self._memory.person_of, self.inner.resolve_many, self._keep_holder)

    def resolve_people(self, keys: Collection[str]) -> dict[str, PersonGraph | SharedResolution]:
        return _many(self._memory, keys, self._held_graph, self.inner.resolve_people, self._keep_resolved)

    def live_persons(self, person_ids: Collection[str]) -> dict[str, str]:
        return _many(self._memory, person_ids, self._memory.live, self.inner.live_persons, self._keep_live)

    def _held_graph(self, key: str) -> PersonGraph | None:
        pid = self._memory.person_of(key)
        return self._memory.graph(pid) if pid is not None else None

    def _keep_holder(self, token: int, key: str, got: str | SharedResolution | None) -> None:
        if isinstance(got, str):  # one person (a shared identifier's answer is not kept)
            self._cache.put_key(token, key, got)

    def _keep_resolved(self, token: int, key: str, got: PersonGraph | SharedResolution | None) -> None:
        if isinstance(got, PersonGraph):
            self._cache.put_key(token, key, got.person_id)
            self._cache.put_graph(token, got)

    def _keep_graph(self, token: int, person_id: str, got: PersonGraph | None) -> None:
        if got is not None:
            self._cache.put_graph(token, got)

    def _keep_live(self, token: int, asked: str, live: str | None) -> None:
        if live is not None:
            self._cache.put_live(token, asked, live)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


class CachedProfiles:
    def __init__(self, inner: ProfileStore, cache: ReadCache, *, answering: bool = False) -> None:
        """`answering`: reads may be answered from memory (else they go to the store, and what
        they bring back is kept for the reads that may)."""
        self.inner = inner
        self._cache = cache
        self._memory = _Memory(cache, answering)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # -- writes ------------------------------------------------------------------------------

    def append(
        self,
        *,
        events: Sequence[LoggedEvent],
        merges: Mapping[str, str],
        folding: Folding,
        prefolded: Mapping[str, Prefold] | None = None,
    ) -> Appended:
        try:
            return self.inner.append(events=events, merges=merges, folding=folding, prefolded=prefolded)
        finally:
            changed = {e.person_id for e in events if e.person_id is not None}
            changed |= {*merges, *merges.values(), *(prefolded or ())}
            self._cache.invalidate(changed)

    def reattribute(
        self,
        *,
        person_ids: Collection[str],
        owner: Callable[[LoggedEvent], str | None],
        folding: Folding,
    ) -> dict[str, int]:
        try:
            counts = self.inner.reattribute(person_ids=person_ids, owner=owner, folding=folding)
        except BaseException:
            self._cache.clear()  # who gained events is not known
            raise
        self._cache.invalidate({*person_ids, *counts})
        return counts

    def erase(self, person_id: str) -> tuple[int, bool]:
        try:
            return self.inner.erase(person_id)
        finally:
            self._cache.invalidate([person_id])

    def scrub_keys(self, person_ids: Collection[str], keys: Collection[str]) -> dict[str, int]:
        try:
            return self.inner.scrub_keys(person_ids, keys)
        finally:
            self._cache.invalidate(list(person_ids))

    # -- reads -------------------------------------------------------------------------------

    def get(self, person_id: str) -> ProfileState | None:
        return _one(self._memory, person_id, self._memory.state, self.inner.get, self._keep_state)

    def get_many(
        self, person_ids: Collection[str], *, known: Mapping[str, Written] | None = None
    ) -> dict[str, ProfileState]:
        def fetch(ids: list[str]) -> dict[str, ProfileState]:
            return self.inner.get_many(ids, known=known)

        return _many(self._memory, person_ids, self._memory.state, fetch, self._keep_state)

    def _keep_state(self, token: int, person_id: str, state: ProfileState | None) -> None:
        if state is not None:
            self._cache.put_state(token, person_id, state)

    def events_of(self, person_id: str) -> list[LoggedEvent]:
        return self.inner.events_of(person_id)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()


class _Memory:
    """What a wrapper asks of the cache: nothing at all unless it answers from memory."""

    def __init__(self, cache: ReadCache, answering: bool) -> None:
        self.cache = cache
        self.answering = answering

    def person_of(self, key: str) -> str | None:
        return self.cache.person_of(key) if self.answering else None

    def live(self, person_id: str) -> str | None:
        return self.cache.live(person_id) if self.answering else None

    def graph(self, person_id: str) -> PersonGraph | None:
        return self.cache.graph(person_id) if self.answering else None

    def state(self, person_id: str) -> ProfileState | None:
        return self.cache.state(person_id) if self.answering else None

    def count(self, *, hit: bool, n: int = 1) -> None:
        if self.answering:
            self.cache.count(hit=hit, n=n)

    def token(self) -> int:
        return self.cache.token()


def _one(
    cache: _Memory,
    asked: K,
    lookup: Callable[[K], V | None],
    fetch: Callable[[K], W],
    fill: Callable[[int, K, W], object],
) -> V | W:
    """A read: what memory holds, else the store's answer, kept for the next read."""
    held = lookup(asked)
    cache.count(hit=held is not None)
    if held is not None:
        return held
    token = cache.token()
    found = fetch(asked)
    fill(token, asked, found)
    return found


def _many(
    cache: _Memory,
    asked: Collection[K],
    lookup: Callable[[K], V | None],
    fetch: Callable[[list[K]], Mapping[K, W]],
    fill: Callable[[int, K, W], object],
) -> dict[K, V | W]:
    """A batch read: what memory holds, and the rest in one store call whose answers are kept."""
    out: dict[K, V | W] = {}
    missing = []
    for a in asked:
        got = lookup(a)
        if got is None:
            missing.append(a)
        else:
            out[a] = got
    cache.count(hit=True, n=len(out))
    cache.count(hit=False, n=len(missing))
    if missing:
        token = cache.token()
        found = fetch(missing)
        for a, answer in found.items():
            fill(token, a, answer)
        out.update(found)
    return out
