"""Property tests: hypothesis searches event sequences for counter-examples to the invariants
the stitching rules promise, on every graph backend."""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import InvalidArgument
from identity.service import RawEvent
from server.bootstrap import System, build_system
from server.config import load_settings
from tests.backends import GRAPH_BACKENDS
from tests.helpers import is_shared, state, stitch

UNIVERSE = {
    "customer_id": ["C0", "C1", "C2"],
    "loyalty_number": ["L0", "L1"],
    "email": ["e0@x.io", "e1@x.io", "e2@x.io"],
    "phone": ["+14155552671", "+14155552672"],
    "card_token": ["t0", "t1"],
    "device_id": ["d0", "d1", "d2"],
    "cookie": ["k0", "k1", "k2", "k3"],
}
JUNK = ["undefined", "null", "", "0", "00000000-0000-0000-0000-000000000000"]
ALL_IDS = [(t, v) for t, vs in UNIVERSE.items() for v in vs]

identifier = st.one_of(
    st.sampled_from(ALL_IDS),
    st.tuples(st.sampled_from(sorted(UNIVERSE)), st.sampled_from(JUNK)),
)


@st.composite
def events(draw: st.DrawFn, *, junk: bool = True) -> list[RawEvent]:
    n = draw(st.integers(1, 25))
    out = []
    for i in range(n):
        ids = draw(st.lists(identifier if junk else st.sampled_from(ALL_IDS), min_size=1, max_size=4))
        out.append(
            RawEvent(
                event_id=f"e{i}",
                occurred_at=draw(st.integers(0, 50)) * 1_000_000,
                channel=draw(st.sampled_from(["web", "app", "email", "pos", "call_center"])),
                type="x",
                identifiers=ids,
                device_type=draw(st.sampled_from(["", "", "", "kiosk"])),
            )
        )
    return out


@contextmanager
def fresh(backend: str, slot: int = 0) -> Iterator[System]:
    data = Path(tempfile.mkdtemp(prefix="idstitch-prop-"))
    s = load_settings(data_dir=data, hmac_secret="prop")
    system = build_system(s, graph=GRAPH_BACKENDS[backend](s, 100 + slot))
    try:
        yield system
    finally:
        system.close()
        shutil.rmtree(data, ignore_errors=True)


def ingest_in_batches(svc: System, evs: list[RawEvent], seed: int) -> list:
    rng = random.Random(seed)
    results, i = [], 0
    while i < len(evs):
        size = rng.randint(1, 6)
        results += stitch(svc, evs[i : i + size])
        i += size
    return results


backends = pytest.mark.parametrize("backend", sorted(GRAPH_BACKENDS))
prop = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@backends
@prop
@given(evs=events(), seed=st.integers(0, 1000))
def test_no_person_ever_holds_two_customer_ids_or_two_loyalty_numbers(backend, evs, seed):
    with fresh(backend) as svc:
        ingest_in_batches(svc, evs, seed)
        for pid in {p for p in state(svc, ALL_IDS).values() if p not in (None, "shared")}:
            nodes = [n for n in svc.reads.identity.person(pid).nodes if not n.shared]
            assert sum(n.type == "customer_id" for n in nodes) <= 1
            assert sum(n.type == "loyalty_number" for n in nodes) <= 1


@backends
@prop
@given(evs=events(), seed=st.integers(0, 1000))
def test_ingest_is_idempotent(backend, evs, seed):
    with fresh(backend) as svc:
        ingest_in_batches(svc, evs, seed)
        before = state(svc, ALL_IDS)
        graphs = {p: svc.reads.identity.person(p) for p in before.values() if p not in (None, "shared")}
        again = list(evs)
        random.Random(seed).shuffle(again)
        results = ingest_in_batches(svc, again, seed + 1)
        assert {r.outcome for r in results} == {"duplicate"}
        assert state(svc, ALL_IDS) == before
        assert {p: svc.reads.identity.person(p) for p in graphs} == graphs


@backends
@prop
@given(evs=events(), seed=st.integers(0, 1000))
def test_junk_never_links(backend, evs, seed):
    clean = [
        RawEvent(e.event_id, e.occurred_at, e.channel, e.type, kept, e.device_type)
        for e in evs
        if (kept := [i for i in e.identifiers if i[1].strip() not in JUNK])
    ]
    with fresh(backend) as with_junk, fresh(backend, 1) as without:
        ingest_in_batches(with_junk, evs, seed)
        ingest_in_batches(without, clean, seed)
        assert state(with_junk, ALL_IDS) == state(without, ALL_IDS)
        for t, v in {i for e in evs for i in e.identifiers if i[1].strip() in JUNK}:
            with pytest.raises(InvalidArgument):
                with_junk.reads.identity.resolve(t, v)


@backends
@prop
@given(evs=events(junk=False), seed=st.integers(0, 1000))
def test_a_shared_identifier_never_bridges(backend, evs, seed):
    with fresh(backend) as svc:
        ingest_in_batches(svc, evs, seed)
        before = state(svc, ALL_IDS)
        shared = [i for i in ALL_IDS if before[i] == "shared"]
        persons = {p: i for i, p in before.items() if p not in (None, "shared")}
        probes = []
        for n, x in enumerate(shared):
            probes.append(RawEvent(f"probe-{n}", 99_000_000, "web", "x", [x, ("cookie", f"fresh-{n}")]))
            for m, member in enumerate(persons.values()):
                probes.append(RawEvent(f"probe-{n}-{m}", 99_000_000, "web", "x", [x, member]))
        stitch(svc, probes)
        assert state(svc, ALL_IDS) == before
        fresh_ids = [("cookie", f"fresh-{n}") for n in range(len(shared))]
        assert all(p not in persons for p in state(svc, fresh_ids).values())
        for x in shared:
            assert is_shared(svc, *x)


@backends
@prop
@given(evs=events(), seed=st.integers(0, 1000))
def test_every_alias_resolves_to_a_live_person(backend, evs, seed):
    with fresh(backend) as svc:
        results = ingest_in_batches(svc, evs, seed)
        live = {p for p in state(svc, ALL_IDS).values() if p not in (None, "shared")}
        mentioned = {r.person_id for r in results if r.person_id} | {
            m for r in results for m in r.merged_person_ids
        }
        for pid in mentioned:
            graph = svc.reads.identity.person(pid)
            assert graph.person_id in live
            assert pid == graph.person_id or pid in graph.aliases


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evs=events(), seed=st.integers(0, 1000))
def test_every_backend_stitches_the_same_events_into_the_same_persons(evs, seed):
    names = sorted(GRAPH_BACKENDS)
    with fresh(names[0], 2) as reference:
        expected = ingest_in_batches(reference, evs, seed)
        expected_state = state(reference, ALL_IDS)
        for name in names[1:]:
            with fresh(name, 3) as other:
                assert ingest_in_batches(other, evs, seed) == expected
                assert state(other, ALL_IDS) == expected_state


@pytest.mark.xfail(
    strict=True,
    reason="known: a declared link marks the members of the anonymous side it joins as joined through it "
    "(engine._declared_side), but only the members the batch's snapshot loaded — the batch's identifiers "
    "and what weak links joined through them. A phone joined through an email is loaded when that email "
    "is in the same batch, and is re-marked; in an earlier batch it keeps its old mark, so a login that "
    "later takes the email takes the phone with it in one order and not in the other. Found by "
    "test_junk_never_links; the same on the code before this session's changes. Loading every member "
    "of both persons for a declared link would fix it at the cost of reading large persons whole.",
)
def test_a_declared_links_withdrawal_does_not_depend_on_batch_boundaries(tmp_path) -> None:
    def ev(i: int, *ids: tuple[str, str]) -> RawEvent:
        return RawEvent(f"e{i}", 0, "web", "x", list(ids), "")

    declared = ev(9, ("email", "e0@x.io"), ("email", "e1@x.io"), ("phone", "+14155552671"))
    loyalty = ev(12, ("loyalty_number", "L0"), ("email", "e1@x.io"))
    login = ev(14, ("customer_id", "C0"), ("email", "e0@x.io"))
    persons = []
    for batches in ([[ev(0, ("customer_id", "C0"))], [declared], [loyalty, login]],
                    [[ev(0, ("customer_id", "C0"))], [declared], [loyalty], [login]]):  # fmt: skip
        with fresh("sqlite", len(persons)) as system:
            for batch in batches:
                stitch(system, batch)
            persons.append(state(system, [("phone", "+14155552671"), ("email", "e0@x.io")]))
    assert persons[0] == persons[1]
