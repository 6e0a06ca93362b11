"""The read cache (readcache/cache.py, readcache/cached_stores.py) answers what the stores
would: after every kind of write, on every backend, what is read through it equals what is
read from the stores themselves. Its own rules (a read racing a write, its bounds, freshness)
are checked on the cache alone."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from identity.model import PersonGraph
from profiles.events import Item, Money, Order
from profiles.reader import ProfileKey
from readcache.cache import ReadCache
from readcache.cached_stores import CachedGraph, CachedProfiles
from server.bootstrap import System
from tests.helpers import shop
from usecases.person_requests import TraitInput

T0 = 1_700_000_000_000_000
MINUTE = 60_000_000


def test_only_the_reads_that_ask_memory_are_answered_from_it(make_profiles: Callable[..., System]):
    system = make_profiles()
    [r] = system.ingest([shop("web", ("cookie", "k1"), at=T0)])
    key = system.identity.key_of("cookie", "k1").key  # type: ignore[union-attr]
    render = system.render.identity.graph
    assert system.cache is not None and render is not system.graph
    assert system.graph.resolve(key) == r.person_id  # any read fills memory
    system.cache.put_key(system.cache.token(), key, "p-in-memory")  # what memory says from now on
    assert render.resolve(key) == "p-in-memory"  # a page-render read is answered from memory
    assert system.graph.resolve(key) == r.person_id  # an erasure's or a split's read goes to the store
    assert system.reads.profiles.person_of(ProfileKey(identifier=("cookie", "k1"))) == r.person_id


def _graph(n: str) -> PersonGraph:
    return PersonGraph(n, (), (), ())


def test_a_read_that_began_before_a_write_of_its_person_is_not_kept():
    cache = ReadCache(max_persons=10, ttl_seconds=60)
    before = cache.token()
    cache.invalidate(["p1"])  # a write commits while the read is at the store
    cache.put_key(before, "k1", "p1")
    cache.put_graph(before, _graph("p1"))
    assert cache.person_of("k1") is None and cache.graph("p1") is None
    cache.put_key(before, "k2", "p2")  # another person's answer from the same read is good
    assert cache.person_of("k2") == "p2"
    after = cache.token()
    cache.put_key(after, "k1", "p1")
    assert cache.person_of("k1") == "p1"


def test_dropping_a_person_drops_every_identifier_and_alias_cached_as_naming_it():
    cache = ReadCache(max_persons=10, ttl_seconds=60)
    t = cache.token()
    cache.put_key(t, "k1", "p1")
    cache.put_graph(t, PersonGraph("p1", ("old-1", "old-2"), (), ()))
    cache.put_state(t, "p1", _state())
    assert cache.live("old-2") == "p1" and cache.state("p1") is not None
    cache.invalidate(["old-1"])  # named by a merged-away id: its survivor goes
    assert (cache.person_of("k1"), cache.live("old-2"), cache.graph("p1"), cache.state("p1")) == (
        None,
        None,
        None,
        None,
    )


def test_a_profile_asked_for_through_an_alias_is_kept_under_its_live_person():
    cache = ReadCache(max_persons=10, ttl_seconds=60)
    t = cache.token()
    cache.put_live(t, "old-1", "p1")  # GetProfile by a merged-away id: the graph names p1
    cache.put_state(t, "p1", _state())  # then the store is read for p1
    assert cache.state("old-1") is not None and cache.state("p1") is not None
    cache.invalidate(["p1"])
    assert cache.state("old-1") is None


def test_a_profile_asked_for_by_an_id_not_known_live_is_not_kept():
    cache = ReadCache(max_persons=10, ttl_seconds=60)
    cache.put_state(cache.token(), "alias-or-unknown", _state())
    assert cache.state("alias-or-unknown") is None


def test_the_cache_holds_at_most_max_persons_and_forgets_after_its_ttl():
    now = [0.0]
    cache = ReadCache(max_persons=3, ttl_seconds=10, clock=lambda: now[0])
    for n in range(5):
        cache.put_key(cache.token(), f"k{n}", f"p{n}")
    assert len(cache) == 3 and cache.person_of("k0") is None and cache.person_of("k4") == "p4"
    now[0] = 10.0
    assert cache.person_of("k4") is None and len(cache) == 2


def test_with_other_writers_the_cache_answers_only_while_the_feed_is_heard():
    now = [100.0]
    cache = ReadCache(max_persons=3, ttl_seconds=60, max_lag_seconds=1.0, clock=lambda: now[0])
    cache.put_key(cache.token(), "k1", "p1")
    assert cache.person_of("k1") is None  # never heard: nothing is kept or answered
    cache.heard(100.0)
    cache.put_key(cache.token(), "k1", "p1")
    assert cache.person_of("k1") == "p1"
    now[0] = 101.0
    assert cache.person_of("k1") is None  # not heard for max_lag: the stores answer
    cache.heard(100.5)
    assert cache.person_of("k1") == "p1"


def test_forgotten_invalidations_refuse_every_read_older_than_them():
    cache = ReadCache(max_persons=1, ttl_seconds=60)
    old = cache.token()
    for n in range(10):  # more than it remembers (DROPPED_PER_PERSON per person)
        cache.invalidate([f"p{n}"])
    cache.put_key(old, "k0", "p0")
    assert cache.person_of("k0") is None


def _state():  # type: ignore[no-untyped-def]
    from profiles.state import ProfileState

    return ProfileState()


# -- against the stores, every backend ---------------------------------------------------------

IDENTS = [("customer_id", f"C{n}") for n in range(4)] + [("email", f"u{n}@example.com") for n in range(4)]
IDENTS += [("cookie", f"ck{n}") for n in range(8)] + [("loyalty_number", f"L{n}") for n in range(3)]
IDENTS += [("device_id", "kiosk-1")]


def _answers(system: System, persons: set[str]) -> dict[str, object]:
    """Everything the read paths ask the stores, from memory (the page-render readers' ports) and
    from the stores below it."""
    graph, store = system.render.identity.graph, system.render.profiles.store
    assert isinstance(graph, CachedGraph) and isinstance(store, CachedProfiles)
    out: dict[str, object] = {}
    keys = [k.key for t, v in IDENTS if not isinstance(k := system.identity.key_of(t, v), str)]
    for name, read in (("cached", (graph, store)), ("stored", (graph.inner, store.inner))):
        out[name] = _read(*read, keys, persons)
    return out


def _read(g, s, keys: list[str], persons: set[str]) -> object:  # type: ignore[no-untyped-def]
    resolved = {k: g.resolve_person(k) for k in keys}
    holders = {k: g.resolve(k) for k in keys}
    live = {p: g.live_person(p) for p in sorted(persons)}
    profiles = {p: s.get(p) for p in sorted(set(live.values()) - {None}) if p is not None}
    many = (g.resolve_many(keys), g.resolve_people(keys), g.live_persons(persons))
    return (resolved, holders, live, profiles, many, s.get_many(list(profiles)))


def _write(system: System, rng: random.Random, step: int, persons: set[str]) -> None:
    p = system
    at = T0 + step * MINUTE
    kinds = ["event", "order", "kiosk", "traits", "consent", "detach", "erase"]
    kind = rng.choices(kinds, [10, 2, 2, 2, 2, 2, 1])[0]
    ident = rng.choice(IDENTS)
    try:
        if kind in ("event", "order"):
            idents = rng.sample(IDENTS, rng.choice([1, 2, 2, 3]))
            facts = (
                {
                    "type": "purchase",
                    "order": Order(f"o{step}", (Item("sku", quantity=1),), Money(1000, "EUR")),
                }
                if (kind == "order")
                else {"type": rng.choice(["page_view", "login"])}
            )
            for r in p.ingest([shop("web", *idents, at=at, **facts)]):  # type: ignore[arg-type]
                if r.person_id:
                    persons.add(r.person_id)
                    persons.update(r.merged_person_ids)
        elif kind == "kiosk":  # a shared identifier: the graphs of everyone who used it show it
            p.ingest([shop("pos", ("device_id", "kiosk-1"), ident, at=at, device_type="kiosk")])
        elif kind == "traits":
            p.requests.update_traits(
                ProfileKey(identifier=ident),
                f"t{step}",
                [TraitInput("loyalty_tier", "text", "gold", "crm", at)],
            )
        elif kind == "consent":
            granted = rng.random() < 0.5
            key = ProfileKey(identifier=ident)
            p.privacy.set_consent(key, request_id=f"c{step}", purpose="personalization", granted=granted,
                                  source="banner", at=at, caller="k")  # fmt: skip
        elif kind == "detach":
            done = p.splits.detach(*ident, to_new_person=rng.random() < 0.7)
            if done.new_person_id:
                persons.add(done.new_person_id)
        else:
            p.privacy.erase(ProfileKey(identifier=ident), f"e{step}", caller="k")
    except (NotFound, FailedPrecondition, InvalidArgument):
        pass  # unknown, shared or alone: nothing written, which must hold for the cache too


@pytest.mark.parametrize("seed", [1, 2])
def test_what_is_read_through_the_cache_is_what_the_stores_hold_after_every_kind_of_write(
    make_profiles: Callable[..., System], seed: int
):
    privacy = make_profiles()
    rng = random.Random(seed)
    persons: set[str] = set()
    held: list[int] = []
    for step in range(40):
        before = _answers(privacy, persons)  # fills the cache with what the write may change
        assert before["cached"] == before["stored"], f"step {step}"
        held.append(len(privacy.cache or ()))
        _write(privacy, rng, step, persons)
        after = _answers(privacy, persons)
        assert after["cached"] == after["stored"], f"after step {step}"
    assert privacy.reads.identity.resolve("device_id", "kiosk-1").shared is not None
    assert sum(held) > 40, f"the cache held too little to be under test: {held}"
