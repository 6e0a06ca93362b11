"""Erasure, suppression, consent and export through the service, on every graph and profile
backend: a person erased is gone from every store, stays gone whatever arrives late, and a
shared household device survives for the others."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from common.errors import InvalidArgument, NotFound, StoreUnavailable
from profiles.events import Item, Money, Order
from profiles.reader import ProfileKey
from server.bootstrap import System
from server.privacy_servicer import export_document
from tests.helpers import shop
from tests.profile_data import HOUR, T0

NOW = T0 + 1000 * HOUR
GRILL = Item(sku="g1", category="grills", brand="weber", price=Money(45_000, "USD"))


def by(type_name: str, value: str) -> ProfileKey:
    return ProfileKey(identifier=(type_name, value))


@pytest.fixture
def privacy(make_profiles: Callable[..., System]) -> System:
    return make_profiles(clock=lambda: NOW)


def ann_and_bob(privacy: System) -> tuple[str, str]:
    """Ann (two cookies, an email, a login, later merged with her phone app) and Bob, who share a
    household tablet."""
    p = privacy
    p.ingest([
        shop("web", ("cookie", "ann-laptop"), type="product_view", product=GRILL, at=T0),
        shop("app", ("device_id", "ann-phone"), type="product_view", product=GRILL, at=T0 + HOUR),
        shop("web", ("customer_id", "ANN"), ("cookie", "ann-laptop"), ("email", "ann@example.com"),
             type="login", at=T0 + 2 * HOUR),
        shop("app", ("customer_id", "ANN"), ("device_id", "ann-phone"), type="login", at=T0 + 3 * HOUR),
        shop("web", ("customer_id", "ANN"), ("cookie", "tablet"), type="login", at=T0 + 4 * HOUR),
        shop("web", ("customer_id", "BOB"), ("cookie", "tablet"), type="login", at=T0 + 5 * HOUR),
        shop("web", ("customer_id", "BOB"), ("cookie", "bob-laptop"), type="purchase",
             order=Order(items=(GRILL,)), at=T0 + 6 * HOUR),
    ])  # fmt: skip
    return p.reads.profiles.person_of(by("customer_id", "ANN")), p.reads.profiles.person_of(
        by("customer_id", "BOB")
    )


def test_erasure_removes_the_person_from_every_store_with_a_receipt(privacy: System) -> None:
    ann, bob = ann_and_bob(privacy)
    bob_before = privacy.reads.profiles.get(by("customer_id", "BOB")).state
    receipt = privacy.privacy.erase(by("email", "ann@example.com"), "req-1", caller="k_privacy")
    assert receipt.completed_at is not None and receipt.person_id is None
    assert receipt.counts == {
        "identifiers": 4, "links": 4, "aliases": 1, "shared_identifier_uses": 1, "events": 5,
        "profiles": 1, "consent_records": 0, "suppressed_identifiers": 4,
        "other_persons_events_scrubbed": 0, "held_back_links": 0,
    }  # fmt: skip
    for ident in [("cookie", "ann-laptop"), ("device_id", "ann-phone"), ("email", "ann@example.com"),
                  ("customer_id", "ANN")]:  # fmt: skip
        with pytest.raises(NotFound):
            privacy.reads.profiles.get(by(*ident))
    with pytest.raises(NotFound):
        privacy.reads.profiles.get(ProfileKey(person_id=ann))
    assert privacy.store.events_of(ann) == []
    # Bob keeps the household tablet, his events and his profile; Ann's use of the tablet is gone.
    assert privacy.reads.identity.resolve("cookie", "tablet").shared.shared_by == (bob,)
    assert privacy.reads.profiles.get(by("customer_id", "BOB")).state == bob_before
    assert privacy.privacy.erasure(receipt.erasure_id, caller="k_privacy") == receipt
    audit = privacy.records.audit_log()
    assert [(a.caller, a.operation) for a in audit] == [("k_privacy", "erase"), ("k_privacy", "get_erasure")]
    assert "ann" not in json.dumps([a.detail for a in audit]).lower()


def test_erase_is_idempotent_by_request_id(privacy: System) -> None:
    ann_and_bob(privacy)
    first = privacy.privacy.erase(by("customer_id", "ANN"), "req-1", caller="k")
    assert privacy.privacy.erase(by("customer_id", "ANN"), "req-1", caller="k") == first
    again = privacy.privacy.erase(
        by("customer_id", "ANN"), "req-2", caller="k"
    )  # a new request: nothing left
    assert again.erasure_id != first.erasure_id and again.counts["events"] == 0


def test_late_events_from_before_the_erasure_are_suppressed_and_later_activity_starts_afresh(
    privacy: System,
) -> None:
    ann, _ = ann_and_bob(privacy)
    privacy.privacy.erase(by("customer_id", "ANN"), "req-1", caller="k")
    late = shop("web", ("cookie", "ann-laptop"), type="product_view", product=GRILL, at=NOW - HOUR)
    replay = shop("web", ("customer_id", "ANN"), ("cookie", "x"), type="login", at=T0 + 2 * HOUR)
    [r1, r2] = privacy.ingest([late, replay])
    assert (r1.outcome, r2.outcome) == ("suppressed", "suppressed")
    with pytest.raises(NotFound):
        privacy.reads.profiles.get(by("cookie", "ann-laptop"))
    with pytest.raises(NotFound):
        privacy.reads.profiles.get(by("cookie", "x"))  # nothing of a suppressed event is kept
    [fresh] = privacy.ingest([shop("web", ("cookie", "ann-laptop"), type="page_view", at=NOW + HOUR)])
    assert fresh.outcome == "created" and fresh.person_id != ann
    assert privacy.reads.profiles.get(by("cookie", "ann-laptop")).state.events == 1


def test_erasing_a_subject_never_seen_suppresses_its_back_fill(privacy: System) -> None:
    receipt = privacy.privacy.erase(by("email", "zoe@example.com"), "req-z", caller="k")
    assert receipt.counts["identifiers"] == 0 and receipt.counts["suppressed_identifiers"] == 1
    [r] = privacy.ingest([shop("email", ("email", "Zoe@Example.com"), type="email_open", at=NOW - HOUR)])
    assert r.outcome == "suppressed"


def test_an_interrupted_erasure_is_finished_by_its_retry(privacy: System) -> None:
    ann, _ = ann_and_bob(privacy)
    store = privacy.store
    real_erase = store.erase

    def fail(person_id: str) -> tuple[int, bool]:
        raise StoreUnavailable("profile store went away")

    store.erase = fail  # type: ignore[method-assign]  # a fault around the real store
    with pytest.raises(StoreUnavailable):
        privacy.privacy.erase(by("customer_id", "ANN"), "req-1", caller="k")
    store.erase = real_erase  # type: ignore[method-assign]
    with pytest.raises(NotFound):  # the graph part is done ...
        privacy.reads.profiles.get(by("customer_id", "ANN"))
    assert store.events_of(ann)  # ... the profile part is not
    done = privacy.privacy.erase(by("customer_id", "ANN"), "req-1", caller="k")
    assert done.completed_at is not None and done.counts["events"] == 5 and store.events_of(ann) == []
    # The receipt still counts what the first attempt removed from the graph.
    assert (done.counts["identifiers"], done.counts["links"], done.counts["aliases"]) == (4, 4, 1)


def test_denied_personalization_restricts_the_profile_and_the_most_restrictive_wins_a_merge(
    privacy: System,
) -> None:
    p = privacy
    p.ingest([shop("web", ("cookie", "k1"), type="product_view", product=GRILL, at=T0)])
    p.ingest([shop("app", ("customer_id", "C1"), type="product_view", product=GRILL, at=T0)])
    consent = privacy.privacy.set_consent
    consent(by("cookie", "k1"), request_id="c1", purpose="personalization", granted=False,
            source="banner", at=T0 + HOUR, caller="k")  # fmt: skip
    consent(by("customer_id", "C1"), request_id="c2", purpose="personalization", granted=True,
            source="app", at=T0 + 2 * HOUR, caller="k")  # fmt: skip
    assert (
        p.reads.profiles.get(by("cookie", "k1")).restricted
        and not p.reads.profiles.get(by("customer_id", "C1")).restricted
    )
    p.ingest([shop("web", ("customer_id", "C1"), ("cookie", "k1"), type="login", at=T0 + 3 * HOUR)])
    merged = p.reads.profiles.get(by("customer_id", "C1"))
    assert merged.restricted
    [status] = [c for c in privacy.privacy.export(by("customer_id", "C1"), caller="k").consent]
    assert (status.granted, status.conflict) == (False, True)
    # Granting again through the subject that denied lifts it.
    privacy.privacy.set_consent(by("cookie", "k1"), request_id="c3", purpose="personalization", granted=True,
                        source="banner", at=T0 + 4 * HOUR, caller="k")  # fmt: skip
    assert not p.reads.profiles.get(by("customer_id", "C1")).restricted
    with pytest.raises(InvalidArgument, match="purpose"):
        privacy.privacy.set_consent(by("cookie", "k1"), request_id="c4", purpose="telepathy", granted=True,
                            source="x", at=None, caller="k")  # fmt: skip


def test_export_holds_identifiers_links_profile_consent_and_every_event(privacy: System) -> None:
    ann_and_bob(privacy)
    export = privacy.privacy.export(by("customer_id", "ANN"), caller="k")
    chunks = list(export_document(export))
    doc = json.loads("".join(chunks))
    values = {(i["type"], i.get("value") or i.get("hashed_value")) for i in doc["identifiers"]}
    assert ("customer_id", "ANN") in values and ("cookie", "ann-laptop") in values
    [email] = [i for i in doc["identifiers"] if i["type"] == "email"]
    assert "value" not in email and email["hashed_value"].startswith("#")
    assert len(doc["events"]) == 5 and {e["type"] for e in doc["events"]} >= {"login", "product_view"}
    assert doc["profile"]["context"]["events"] == "5" and doc["links"]
    assert "ann@example.com" not in "".join(chunks)


def test_erasure_takes_the_persons_identifiers_out_of_other_persons_events(privacy: System) -> None:
    """Bob's email clicked on Ann's laptop: both hold a login, so the link is kept apart and the
    click, Bob's, names Ann's cookie. Erasing Ann takes the cookie out of Bob's event and profile
    (the device it came through) on every backend; the click stays Bob's."""
    _, bob = ann_and_bob(privacy)
    p = privacy
    p.ingest(
        [shop("web", ("customer_id", "BOB"), ("email", "bob@example.com"), type="login", at=T0 + 7 * HOUR)]
    )
    click = shop("email", ("email", "bob@example.com"), ("cookie", "ann-laptop"), type="email_click",
                 at=T0 + 8 * HOUR)  # fmt: skip
    [held] = p.ingest([click])
    assert held.person_id == bob and [(x.rule, x.action) for x in held.refused] == [
        ("weak_link", "kept_apart")
    ]
    laptop = next(k for e in p.store.events_of(bob) for k in e.keys if k.startswith("cookie:ann-laptop"))
    assert "cookie:ann-laptop" in p.reads.profiles.get(by("customer_id", "BOB")).state.devices
    receipt = privacy.privacy.erase(by("customer_id", "ANN"), "req-split", caller="k")
    assert (receipt.counts["other_persons_events_scrubbed"], receipt.counts["held_back_links"]) == (1, 1)
    [kept] = [e for e in p.store.events_of(bob) if e.facts.event_id == click[0].event_id]
    assert laptop not in kept.keys and kept.facts.device == ""
    assert "cookie:ann-laptop" not in p.reads.profiles.get(by("customer_id", "BOB")).state.devices
    assert not any(laptop in e.keys for e in p.store.events_of(bob))
