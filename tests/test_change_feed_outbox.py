"""A server killed after a graph commit and before the rest loses none of the rest: a batch's
merges and orders are told, and a detach's refold is done and its split told, by the outbox sweep
of the next server that runs — and nothing about a person erased in the meantime. A retried
trait update tells what its first attempt stored and did not tell."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from changes.model import ORDER_PLACED, PERSON_ERASED, PERSON_SPLIT, PERSONS_MERGED, Change
from common.errors import FailedPrecondition
from profiles.reader import ProfileKey
from server.bootstrap import System, build_system
from server.config import load_settings

PAIRS = 20

WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from server.bootstrap import build_system
    from server.config import load_settings
    from tests.test_change_feed_outbox import first_sightings, orders

    system = build_system(load_settings(data_dir=Path(sys.argv[1]), hmac_secret="outbox"))
    system.ingest(first_sightings())
    record = system.changes.feed.record

    def die(changes, told):  # the process dies after both commits, before the feed's write
        print("dying", flush=True)
        os._exit(9)

    system.changes.feed.record = die
    system.ingest(orders())
    """
)


def first_sightings() -> list:
    """A browser and, apart from it, a loyalty card per shopper: two persons each."""
    from identity.service import RawEvent
    from profiles.events import EventFacts

    out = []
    for i in range(PAIRS):
        for n, ident in enumerate((("cookie", f"k{i}"), ("loyalty_number", f"L{i}"))):
            eid, at = f"seen-{i}-{n}", 1_000_000 * (i + 1)
            out.append(
                (RawEvent(eid, at, "web", "page_view", [ident]), EventFacts(eid, at, "web", "page_view"))
            )
    return out


def orders() -> list:
    """An order at the till that shows both: each pair merges, and an order is placed."""
    from identity.service import RawEvent
    from profiles.events import EventFacts

    out = []
    for i in range(PAIRS):
        eid, at = f"order-{i}", 1_000_000 * (PAIRS + i + 1)
        ids = [("loyalty_number", f"L{i}"), ("cookie", f"k{i}")]
        facts = EventFacts(eid, at, "pos", "purchase", store_id="S1")
        out.append((RawEvent(eid, at, "pos", "purchase", ids), facts))
    return out


def killed_then_reopened(writer: str, data: Path, **settings: object) -> System:
    """Runs `writer` (a script given the data directory) until it dies where it chose to, then
    opens its data as the next server would, with no grace before the outbox sweep."""
    proc = subprocess.run(
        [sys.executable, "-c", writer, str(data)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert proc.stdout.strip() == "dying" and proc.returncode == 9, proc.stderr[-2000:]
    return reopened(data, **settings)


def reopened(data: Path, **settings: object) -> System:
    return build_system(
        load_settings(data_dir=data, hmac_secret="outbox", changes={"outbox_grace_seconds": 0}, **settings)
    )


def everything(system: System) -> list[Change]:
    assert system.changes is not None
    changes, _ = system.changes.feed.read("0", 10_000)
    return changes


def test_a_server_killed_before_the_feed_write_leaves_its_merges_and_orders_to_the_outbox_sweep(
    tmp_path: Path,
) -> None:
    system = killed_then_reopened(WRITER, tmp_path / "data")
    try:
        assert not [c for c in everything(system) if c.kind in (PERSONS_MERGED, ORDER_PLACED)]
        person = {
            i: system.reads.profiles.person_of(ProfileKey(identifier=("loyalty_number", f"L{i}")))
            for i in range(PAIRS)
        }
        erased = person[0]
        system.privacy.erase(ProfileKey(person_id=erased), "erase-0", caller="test")

        assert system.outbox is not None
        assert system.outbox() == 1
        assert system.outbox() == 0  # told once, then deleted
        told = everything(system)
        live = {person[i] for i in range(1, PAIRS)}
        merged = {c.person_id for c in told if c.kind == PERSONS_MERGED}
        ordered = [c for c in told if c.kind == ORDER_PLACED]
        assert merged == live
        assert sorted(c.person_id for c in ordered) == sorted(live)
        assert all(c.detail == {"channel": "in_store", "store_id": "S1"} for c in ordered)
        # The person erased meanwhile: only their erasure, nothing the late telling brought back.
        assert [c.kind for c in told if c.person_id == erased] == [PERSON_ERASED]
    finally:
        system.close()


def test_a_batch_told_at_once_leaves_no_outbox_entry(tmp_path: Path) -> None:
    system = reopened(tmp_path)
    try:
        system.ingest(first_sightings())
        system.ingest(orders())
        assert system.graph.outbox(before=2**62, limit=10) == []
        assert system.outbox is not None and system.outbox() == 0
        assert len([c for c in everything(system) if c.kind == ORDER_PLACED]) == PAIRS
    finally:
        system.close()


DETACHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from server.bootstrap import build_system
    from server.config import load_settings
    from tests.test_change_feed_outbox import two_browsers

    system = build_system(load_settings(data_dir=Path(sys.argv[1]), hmac_secret="outbox"))
    system.ingest(two_browsers())

    def die(person_ids):  # the detach committed in the graph; the process dies before the refold
        print("dying", flush=True)
        os._exit(9)

    system.splits.refold = die
    system.splits.detach("cookie", "k2", to_new_person=True)
    """
)


def two_browsers() -> list:
    """A shopper logged in on two browsers; the second browser then browses on its own."""
    from identity.service import RawEvent
    from profiles.events import EventFacts

    out = []
    for n, ids in enumerate(
        [[("customer_id", "C1"), ("cookie", "k1")], [("customer_id", "C1"), ("cookie", "k2")]]
        + [[("cookie", "k2")]] * 3
    ):
        eid, at = f"b{n}", 1_000_000 * (n + 1)
        out.append((RawEvent(eid, at, "web", "page_view", ids), EventFacts(eid, at, "web", "page_view")))
    return out


def test_a_server_killed_between_a_detach_and_its_refold_leaves_the_rest_to_the_outbox_sweep(
    tmp_path: Path,
) -> None:
    system = killed_then_reopened(DETACHER, tmp_path / "data")
    try:
        svc = system
        shopper = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "C1")))
        browser = svc.reads.profiles.person_of(ProfileKey(identifier=("cookie", "k2")))
        assert browser != shopper  # the graph committed the detach...
        assert len(svc.store.events_of(shopper)) == 5  # ...the profiles never heard of it
        with pytest.raises(FailedPrecondition):  # and a retry cannot finish it
            svc.splits.detach("cookie", "k2", to_new_person=True)

        assert system.outbox is not None and system.outbox() == 1
        assert sorted(e.facts.event_id for e in svc.store.events_of(shopper)) == ["b0", "b1"]
        assert sorted(e.facts.event_id for e in svc.store.events_of(browser)) == ["b2", "b3", "b4"]
        assert svc.reads.profiles.get(ProfileKey(person_id=shopper)).state.events == 2
        split = [c for c in everything(system) if c.kind == PERSON_SPLIT]
        assert [(c.person_id, c.detail) for c in split] == [(shopper, {"new_person_ids": [browser]})]
        assert system.outbox() == 0
    finally:
        system.close()


WITHDRAWER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from server.bootstrap import build_system
    from server.config import load_settings
    from tests.test_change_feed_outbox import tablet

    settings = load_settings(data_dir=Path(sys.argv[1]), hmac_secret="outbox",
                             stitching={"weak_links": {"attach_new": True}})
    system = build_system(settings)
    before, bob = tablet()
    system.ingest(before)

    def die(person_ids):  # the batch withdrew a weak link and committed; dies before the refold
        print("dying", flush=True)
        os._exit(9)

    system.splits.refold = die
    system.ingest(bob)
    """
)


def tablet() -> tuple[list, list]:
    """Ann's email clicked on a tablet that then browses: the tablet is Ann's on a weak link, until
    Bob logs in on it (tests/test_weak_links.py has the story)."""
    from tests.helpers import shop

    t = 1_700_000_000_000_000
    before = [
        shop("web", ("customer_id", "ANN"), ("email", "ann@example.com"), type="login", at=t, event_id="a0"),
        shop("email", ("email", "ann@example.com"), ("cookie", "tablet"), type="email_click", at=t + 1,
             event_id="a1"),
    ] + [
        shop("web", ("cookie", "tablet"), type="product_view", at=t + 2 + i, event_id=f"t{i}")
        for i in range(3)
    ]  # fmt: skip
    bob = [shop("web", ("customer_id", "BOB"), ("cookie", "tablet"), type="login", at=t + 10, event_id="b0")]
    return before, bob


def test_a_server_killed_before_refolding_a_withdrawn_weak_link_leaves_it_to_the_outbox_sweep(
    tmp_path: Path,
) -> None:
    system = killed_then_reopened(
        WITHDRAWER, tmp_path / "data", stitching={"weak_links": {"attach_new": True}}
    )
    try:
        svc = system
        ann = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "ANN")))
        bob = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "BOB")))
        assert svc.reads.profiles.person_of(ProfileKey(identifier=("cookie", "tablet"))) == bob
        assert len(svc.store.events_of(ann)) == 5  # the tablet's browsing is still in Ann's profile
        assert system.outbox is not None and system.outbox() == 1
        assert sorted(e.facts.event_id for e in svc.store.events_of(ann)) == ["a0", "a1"]
        assert sorted(e.facts.event_id for e in svc.store.events_of(bob)) == ["b0", "t0", "t1", "t2"]
    finally:
        system.close()


def test_a_retried_trait_update_tells_what_its_first_attempt_stored_but_did_not_tell(tmp_path: Path) -> None:
    from tests.helpers import shop
    from usecases.person_requests import TraitInput

    system = reopened(tmp_path)
    try:
        assert system.changes is not None
        system.ingest([shop("pos", ("loyalty_number", "L1"), type="purchase", event_id="o1")])
        key = ProfileKey(identifier=("loyalty_number", "L1"))
        tier = TraitInput("loyalty_tier", "text", "gold", "loyalty", 1)
        told = system.changes.touched

        def fail(person_ids, written=None):  # type: ignore[no-untyped-def]  # the feed is gone after the store's write
            raise RuntimeError("feed unavailable")

        system.changes.touched = fail  # type: ignore[method-assign]
        with pytest.raises(RuntimeError):
            system.requests.update_traits(key, "req-1", [tier])
        system.changes.touched = told  # type: ignore[method-assign]
        pid, new = system.requests.update_traits(key, "req-1", [tier])  # the caller's retry
        assert not new  # stored once...
        updated = [c for c in everything(system) if c.person_id == pid and c.kind == "profile_updated"]
        assert any("traits" in c.detail["sections"] for c in updated)  # ...and told all the same
    finally:
        system.close()
