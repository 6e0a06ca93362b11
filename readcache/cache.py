"""The server's memory of recent answers on the page-render path: which person an identifier
names, a person's graph, a person's profile. A Neo4j or Cassandra round trip costs more than the
rest of such a call; an answer from memory does not.

An answer is only as good as its invalidation. The unit is the person: every write that can
change what is answered about a person (a batch whose snapshot held them, a merge, a split, a
detach, a trait, an erasure) drops everything cached about them — their graph, their profile,
and every identifier and alias cached as naming them. This server's writes drop it at once
(readcache/cached_stores.py wraps the stores, so no write path can forget to); other servers'
writes drop it when the shared change feed tells of them (readcache/tail.py), and a cache
that has not heard from the feed recently serves nothing. A TTL bounds what neither names.

A read races with a write: it may fetch the old answer, then the write commits and drops the
person, then the read stores what it fetched. So a read takes a `token` before it goes to the
store, and what it brings back is stored only if its person was not dropped since.

Memory answers only the reads that say so: the page-render reads (Resolve, GetProfile and their
batch forms) go through stores wrapped with `answering=True` (the composition root's `render`
readers, which the servicers pick for those calls). Every other read — an erasure collecting the keys
to suppress, a split deciding whose events are whose, an export — goes to the stores, since a
copy up to `max_lag` behind another server's write would make them wrong, not just late.

Only single-person answers are kept: an identifier shared by several persons, an unknown one
and a person without a profile go to the store every time (they are rare on the hot path, and
a shared identifier's answer changes with persons the snapshot of a batch need not hold).
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from common.observability import read_cache_lookups as lookups
from identity.model import PersonGraph
from profiles.state import ProfileState

KEYS_PER_PERSON = 4
"""Identifiers and aliases cached per person on average, at most (the bound on all of them is
this times `max_persons`)."""
DROPPED_PER_PERSON = 4
"""Recent invalidations remembered per cached person, for the race of a read with a write."""
HIT, MISS = {"outcome": "hit"}, {"outcome": "miss"}


@dataclass(slots=True)
class _Person:
    expires: float
    graph: PersonGraph | None = None
    state: ProfileState | None = None
    names: set[str] = field(default_factory=set)
    """Identifier keys cached as naming this person."""
    ids: set[str] = field(default_factory=set)
    """Person ids (its own, its aliases) cached as live in this person."""
    mentions: tuple[str, ...] = ()
    """What its cached graph shows of others: the persons of its unapplied links, and the shared
    identifiers it used (`shared:` + key). A change to any of them drops the graph."""


class ReadCache:
    def __init__(
        self,
        *,
        max_persons: int,
        ttl_seconds: float,
        max_lag_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`max_lag_seconds`: with other servers writing, how long after the change feed was last
        read in full the cache still answers (None: no other server writes — always)."""
        self.max_persons = max_persons
        self.ttl = ttl_seconds
        self.max_lag = max_lag_seconds
        self._clock = clock
        self._persons: OrderedDict[str, _Person] = OrderedDict()
        self._keys: dict[str, str] = {}
        self._live: dict[str, str] = {}
        self._mentioned: dict[str, set[str]] = {}
        """Person id or `shared:` key → the persons whose cached graph shows it."""
        self._seq = 0
        self._dropped: OrderedDict[str, int] = OrderedDict()
        self._floor = 0
        self._heard = -float("inf")
        self._lock = threading.Lock()

    # -- freshness ---------------------------------------------------------------------------

    def heard(self, at: float) -> None:
        """The change feed was read in full by a read that began at `at` (the clock's time)."""
        self._heard = max(self._heard, at)

    def serving(self) -> bool:
        """Whether what is kept is known good (the feed heard recently, if other servers write)."""
        return self.max_lag is None or self._clock() - self._heard < self.max_lag

    def token(self) -> int:
        """Taken before a store read whose answer is to be cached (see `put_*`)."""
        return self._seq

    # -- reads -------------------------------------------------------------------------------

    def _entry(self, pid: str | None) -> _Person | None:
        if pid is None:
            return None
        p = self._persons.get(pid)
        if p is not None and p.expires <= self._clock():
            with self._lock:
                self._drop(pid)
            return None
        return p

    def person_of(self, key: str) -> str | None:
        """The person an identifier key names, if cached."""
        if not self.serving():
            return None
        pid = self._keys.get(key)
        return pid if self._entry(pid) is not None else None

    def live(self, person_id: str) -> str | None:
        """The live person a person id (or alias) names, if cached."""
        if not self.serving():
            return None
        pid = self._live.get(person_id)
        return pid if self._entry(pid) is not None else None

    def graph(self, person_id: str) -> PersonGraph | None:
        p = self._entry(self.live(person_id))
        return None if p is None else p.graph

    def state(self, person_id: str) -> ProfileState | None:
        p = self._entry(self.live(person_id))
        return None if p is None else p.state

    def count(self, *, hit: bool, n: int = 1) -> None:
        """Lookups of the reads that ask memory, answered from it (hit) or from the store."""
        if n:
            lookups.add(n, HIT if hit else MISS)

    # -- filling -----------------------------------------------------------------------------

    def put_key(self, token: int, key: str, person_id: str) -> None:
        """That an identifier key names a (live) person."""
        with self._lock:
            p = self._fill(token, person_id)
            if p is not None:
                self._keys[key] = person_id
                p.names.add(key)
                self._name(p, person_id, person_id)

    def put_live(self, token: int, asked: str, live: str) -> None:
        """That a person id (itself, or an alias) names a live person."""
        with self._lock:
            p = self._fill(token, live)
            if p is not None:
                self._name(p, asked, live)
                self._name(p, live, live)

    def _name(self, p: _Person, asked: str, live: str) -> None:
        self._live[asked] = live
        p.ids.add(asked)

    def put_graph(self, token: int, graph: PersonGraph) -> None:
        """A person's graph, and that its id and aliases name it."""
        with self._lock:
            mentions = (
                *{u.other_person_id for u in graph.unapplied},
                *("shared:" + n.key for n in graph.nodes if n.shared),
            )
            if any(self._dropped.get(m, 0) > token for m in mentions):
                return  # what it shows of another changed while it was read
            p = self._fill(token, graph.person_id)
            if p is not None:
                self._forget_mentions(graph.person_id, p)
                p.graph, p.mentions = graph, mentions
                for other in p.mentions:
                    self._mentioned.setdefault(other, set()).add(graph.person_id)
                for asked in (graph.person_id, *graph.aliases):
                    self._name(p, asked, graph.person_id)

    def put_state(self, token: int, person_id: str, state: ProfileState) -> None:
        """A live person's profile: kept only once the person is known live (a profile asked for by
        an alias is not, since a change to the survivor would not drop it)."""
        with self._lock:
            p = self._persons.get(person_id)
            if p is not None and person_id in p.ids and self._fill(token, person_id) is p:
                p.state = state

    def _fill(self, token: int, pid: str) -> _Person | None:
        """The entry to fill for `pid`; None when a write dropped the person after `token`."""
        if token < self._floor or self._dropped.get(pid, 0) > token or not self.serving():
            return None
        p = self._persons.get(pid)
        if p is None:
            # Spread over the last fifth of the TTL: persons filled together (a burst of reads)
            # do not all go back to the stores in the same moment.
            p = self._persons[pid] = _Person(self._clock() + self.ttl * (1 - 0.2 * random.random()))
            while len(self._persons) > self.max_persons:
                self._drop(next(iter(self._persons)))
        while len(self._keys) + len(self._live) > KEYS_PER_PERSON * self.max_persons:
            self._drop(next(iter(self._persons)))
        return self._persons.get(pid)

    # -- invalidation ------------------------------------------------------------------------

    def invalidate(self, person_ids: Iterable[str], keys: Iterable[str] = ()) -> None:
        """Drops everything cached about these persons (and the persons these identifier keys were
        cached as naming), and refuses the answers of reads that began before now."""
        with self._lock:
            self._seq += 1
            keys = list(keys)
            named = [pid for k in keys if (pid := self._keys.get(k)) is not None]
            for k in keys:  # a shared identifier changed: the graphs showing it (not their profiles)
                mention = "shared:" + k
                for showing in list(self._mentioned.get(mention, ())):
                    self._drop_graph(showing)
                self._dropped[mention] = self._seq
                self._dropped.move_to_end(mention)
            for pid in [*person_ids, *named]:
                live = self._live.get(pid)
                for p in {pid, live} - {None}:
                    assert p is not None
                    self._dropped[p] = self._seq
                    self._dropped.move_to_end(p)
                    self._drop(p)
                    for showing in list(self._mentioned.get(p, ())):  # its graph shows p
                        self._drop_graph(showing)
            while len(self._dropped) > DROPPED_PER_PERSON * self.max_persons:
                _, self._floor = self._dropped.popitem(last=False)

    def clear(self) -> None:
        """Drops everything: a write whose persons are not known (it failed half way)."""
        with self._lock:
            self._seq += 1
            self._floor = self._seq
            self._dropped.clear()
            self._persons.clear()
            self._keys.clear()
            self._live.clear()
            self._mentioned.clear()

    def _drop_graph(self, pid: str) -> None:
        p = self._persons.get(pid)
        if p is not None:
            self._forget_mentions(pid, p)
            p.graph = None

    def _forget_mentions(self, pid: str, p: _Person) -> None:
        for other in p.mentions:
            showing = self._mentioned.get(other)
            if showing is not None:
                showing.discard(pid)
                if not showing:
                    del self._mentioned[other]
        p.mentions = ()

    def _drop(self, pid: str) -> None:
        p = self._persons.pop(pid, None)
        if p is None:
            return
        self._forget_mentions(pid, p)
        for key in p.names:
            if self._keys.get(key) == pid:
                del self._keys[key]
        for asked in p.ids:
            if self._live.get(asked) == pid:
                del self._live[asked]

    def __len__(self) -> int:
        return len(self._persons)
