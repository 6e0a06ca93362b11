"""The identity graph contract: the stitching rules as seen through the service, run against
every backend in conftest.GRAPH_BACKENDS. A new backend passes this file unchanged."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument, NotFound
from identity.identifiers import Strength
from server.bootstrap import System
from tests.helpers import ev, is_shared, login, partition, person_of, stitch

ZERO_AD_ID = "00000000-0000-0000-0000-000000000000"


def test_identifiers_seen_together_become_one_person(svc: System):
    [r] = stitch(svc, [login("C1", ("cookie", "k1"), ("email", "ann@example.com"))])
    assert r.outcome == "created"
    assert person_of(svc, "cookie", "k1") == person_of(svc, "email", "ANN@example.com ") == r.person_id


def test_a_link_between_two_persons_merges_them_and_the_older_id_survives_as_alias_target(svc):
    first = stitch(svc, [ev("web", ("cookie", "k1"))])[0].person_id
    second = stitch(svc, [login("C1", ("cookie", "k2"))])[0].person_id
    [r] = stitch(svc, [ev("web", ("cookie", "k1"), ("customer_id", "C1"))])
    assert r.outcome == "merged"
    assert r.person_id == first and r.merged_person_ids == [second]
    graph = svc.reads.identity.person(second)  # the alias still resolves
    assert graph.person_id == first and second in graph.aliases
    assert {n.key for n in graph.nodes} == {"cookie:k1", "cookie:k2", "customer_id:C1"}


def test_aliases_stay_one_hop_and_name_a_live_person_after_chained_merges(make_service):
    # Weak links between browsers with history apply at once with a corroboration count of 1.
    svc = make_service(stitching={"weak_links": {"corroborating_events": 1}})
    a = stitch(svc, [ev("web", ("cookie", "a"))])[0].person_id
    b = stitch(svc, [ev("web", ("cookie", "b"))])[0].person_id
    c = stitch(svc, [ev("web", ("cookie", "c"))])[0].person_id
    stitch(svc, [ev("web", ("cookie", "b"), ("cookie", "c"))])
    stitch(svc, [ev("web", ("cookie", "a"), ("cookie", "b"))])
    for pid in (a, b, c):
        assert svc.reads.identity.person(pid).person_id == a
    assert set(svc.reads.identity.person(a).aliases) == {b, c}


def test_household_tablet_cookie_becomes_shared_and_never_bridges_the_two_customers(svc):
    pa = stitch(svc, [login("ANN", ("cookie", "tablet"))])[0].person_id
    [r] = stitch(svc, [login("BOB", ("cookie", "tablet"))])
    assert [(x.rule, x.action) for x in r.refused] == [("unique_type", "marked_shared")]
    pb = r.person_id
    assert pa != pb
    assert is_shared(svc, "cookie", "tablet")
    assert set(svc.reads.identity.resolve("cookie", "tablet").shared.shared_by) == {pa, pb}
    # Later events on the tablet go to whoever is identified in them, and never join the two.
    assert stitch(svc, [login("ANN", ("cookie", "tablet"))])[0].person_id == pa
    assert stitch(svc, [login("BOB", ("cookie", "tablet"), ("cookie", "bob-phone"))])[0].person_id == pb
    assert stitch(svc, [ev("web", ("cookie", "tablet"))])[0].outcome == "unattributed"
    assert person_of(svc, "customer_id", "ANN") != person_of(svc, "customer_id", "BOB")
    assert person_of(svc, "cookie", "bob-phone") == pb


def test_store_kiosk_device_is_shared_from_first_sight(svc):
    r1, r2 = stitch(
        svc,
        [
            login("ANN", ("device_id", "KIOSK-7"), channel="app", device_type="kiosk"),
            login("BOB", ("device_id", "KIOSK-7"), channel="app", device_type="kiosk"),
        ],
    )
    assert r1.refused == [] and r2.refused == []
    assert r1.person_id != r2.person_id
    assert is_shared(svc, "device_id", "kiosk-7")


def test_zeroed_advertising_id_is_ignored_and_never_links(svc):
    r1, r2 = stitch(
        svc,
        [
            login("ANN", ("device_id", ZERO_AD_ID), channel="app"),
            login("BOB", ("device_id", ZERO_AD_ID), channel="app"),
        ],
    )
    assert r1.person_id != r2.person_id
    assert [(i.index, i.type, i.reason) for i in r1.ignored] == [(1, "device_id", "junk_value")]
    with pytest.raises(InvalidArgument, match=r"identifier\.value: junk_value"):
        svc.reads.identity.resolve("device_id", ZERO_AD_ID)


@pytest.mark.parametrize("junk", ["undefined", "null", "", "   ", "0", "NULL", "[object Object]"])
def test_junk_cookie_never_links_two_customers(svc, junk):
    r1, r2 = stitch(svc, [login("ANN", ("cookie", junk)), login("BOB", ("cookie", junk))])
    assert r1.person_id != r2.person_id
    assert r1.ignored[0].reason == "junk_value"


def test_forwarded_email_click_never_merges_two_customers(svc):
    ann = stitch(svc, [login("ANN", ("email", "ann@example.com"))])[0].person_id
    bob = stitch(svc, [login("BOB", ("cookie", "bob-laptop"))])[0].person_id
    # Ann forwards the campaign; Bob clicks it on his laptop.
    [r] = stitch(
        svc, [ev("email", ("email", "ann@example.com"), ("cookie", "bob-laptop"), type="email_click")]
    )
    assert [(x.rule, x.action) for x in r.refused] == [("weak_link", "kept_apart")]
    assert person_of(svc, "cookie", "bob-laptop") == bob
    assert person_of(svc, "email", "ann@example.com") == ann != bob


def test_email_click_attaches_a_new_browser_to_the_customer(make_service):
    svc = make_service(stitching={"weak_links": {"attach_new": True}})
    ann = stitch(svc, [login("ANN", ("email", "ann@example.com"))])[0].person_id
    [r] = stitch(svc, [ev("email", ("email", "ann@example.com"), ("cookie", "anon"), type="email_click")])
    assert r.outcome == "attached" and r.person_id == ann
    edge = next(e for e in svc.reads.identity.person(ann).edges if "cookie:anon" in (e.a, e.b))
    assert edge.strength is Strength.WEAK and edge.rule == "email.click"
    # By default (attach_new false) it waits for corroboration; a browser with history of its own
    # always does (tests/test_weak_links.py).


def test_shared_card_between_spouses_becomes_shared(svc):
    r1, r2 = stitch(
        svc,
        [
            ev("pos", ("loyalty_number", "L-ANN"), ("card_token", "tok-joint"), type="purchase"),
            ev("pos", ("loyalty_number", "L-BOB"), ("card_token", "tok-joint"), type="purchase"),
        ],
    )
    assert r1.person_id != r2.person_id
    assert [(x.rule, x.action) for x in r2.refused] == [("unique_type", "marked_shared")]
    assert is_shared(svc, "card_token", "tok-joint")
    # A later swipe of the joint card with Ann's loyalty card does not pull Bob in.
    stitch(svc, [ev("pos", ("loyalty_number", "L-ANN"), ("card_token", "tok-joint"), type="purchase")])
    assert person_of(svc, "loyalty_number", "L-ANN") != person_of(svc, "loyalty_number", "L-BOB")


def test_a_contested_email_goes_with_the_newer_login_and_no_person_holds_two_logins(svc):
    stitch(svc, [login("ANN", ("email", "shared@example.com"), at=10)])
    [r] = stitch(svc, [login("BOB", ("email", "shared@example.com"), at=20)])
    assert [(x.rule, x.action) for x in r.refused] == [("unique_type", "reassigned")]
    assert person_of(svc, "email", "shared@example.com") == person_of(svc, "customer_id", "BOB")
    assert person_of(svc, "customer_id", "ANN") != person_of(svc, "customer_id", "BOB")


def test_late_evidence_does_not_take_an_identifier_from_newer_evidence(svc):
    stitch(svc, [login("ANN", ("email", "shared@example.com"), at=20)])
    [r] = stitch(svc, [login("BOB", ("email", "shared@example.com"), at=10)])
    assert [(x.rule, x.action) for x in r.refused] == [("stale_evidence", "kept_apart")]
    assert person_of(svc, "email", "shared@example.com") == person_of(svc, "customer_id", "ANN")


def test_two_logins_in_one_event_give_two_persons(svc):
    [r] = stitch(svc, [ev("web", ("customer_id", "ANN"), ("customer_id", "BOB"))])
    assert [(x.rule, x.action) for x in r.refused] == [("unique_type", "separate_person")]
    assert person_of(svc, "customer_id", "ANN") != person_of(svc, "customer_id", "BOB") is not None


def test_per_type_cap_keeps_a_person_from_collecting_too_many_cookies(make_service):
    svc = make_service(
        stitching={"identifier_types": {"cookie": {"priority": 10, "cap": 2, "shareable": True}}}
    )
    stitch(svc, [login("ANN", ("cookie", "k1"), ("cookie", "k2"))])
    [r] = stitch(svc, [login("ANN", ("cookie", "k3"))])
    assert [(x.rule, x.action) for x in r.refused] == [("type_cap", "separate_person")]
    assert person_of(svc, "cookie", "k3") not in (None, person_of(svc, "customer_id", "ANN"))


def test_resending_an_event_changes_nothing(svc):
    event = login("ANN", ("cookie", "k1"))
    [first] = stitch(svc, [event])
    before = svc.reads.identity.person(first.person_id)
    [again] = stitch(svc, [event])
    assert again.outcome == "duplicate" and again.person_id == first.person_id
    assert svc.reads.identity.person(first.person_id) == before


def test_a_duplicate_inside_one_batch_counts_once(svc):
    event = login("ANN", ("cookie", "k1"))
    r1, r2 = stitch(svc, [event, event])
    assert (r1.outcome, r2.outcome) == ("created", "duplicate")
    assert r2.person_id == r1.person_id


def test_a_resent_event_names_the_person_it_belongs_to_now_after_a_merge(svc):
    stitch(svc, [ev("web", ("cookie", "k1"), event_id="e1")])
    e2 = ev("web", ("cookie", "k2"), event_id="e2")
    b = stitch(svc, [e2])[0].person_id
    [m] = stitch(svc, [login("ANN", ("cookie", "k1"), ("cookie", "k2"), event_id="e3")])
    assert b in m.merged_person_ids
    [again] = stitch(svc, [e2])
    assert again.outcome == "duplicate" and again.person_id == m.person_id


def test_an_invalid_event_rejects_the_batch_and_applies_nothing(svc):
    good = login("ANN", ("cookie", "k1"))
    bad = ev("web", ("shoe_size", "42"))
    with pytest.raises(
        InvalidArgument, match=r"events\[1\]\.identifiers\[0\]\.type: not a configured identifier type"
    ):
        stitch(svc, [good, bad])
    with pytest.raises(NotFound):
        svc.reads.identity.resolve("customer_id", "ANN")


def test_edges_carry_provenance(svc):
    stitch(svc, [login("ANN", ("cookie", "k1"), at=1_000_000)])
    stitch(svc, [login("ANN", ("cookie", "k1"), at=5_000_000, channel="app")])
    [edge] = svc.reads.identity.resolve("cookie", "k1").person.edges
    assert (edge.first_seen, edge.last_seen, edge.event_count) == (1_000_000, 5_000_000, 2)
    assert (edge.channel, edge.rule, edge.strength) == ("web", "web.login", Strength.STRONG)


def test_an_identifier_seen_again_takes_the_new_times_and_stays_where_it_is(svc):
    # A store may write a re-sighted identifier's times alone (identity.stores.sqlite._sighted):
    # the times must move, and an identifier whose person merged in the same batch must move too.
    stitch(svc, [login("ANN", ("cookie", "k1"), at=2_000_000)])
    other = stitch(svc, [ev("web", ("cookie", "k2"), at=2_000_000)])[0].person_id
    stitch(svc, [login("ANN", ("cookie", "k1"), at=1_000_000), ev("web", ("cookie", "k2"), at=6_000_000)])
    nodes = {n.key: n for n in svc.reads.identity.resolve("cookie", "k1").person.nodes}
    assert (nodes["cookie:k1"].first_seen, nodes["cookie:k1"].last_seen) == (1_000_000, 2_000_000)
    [r] = stitch(svc, [login("ANN", ("cookie", "k2"), at=7_000_000)])
    assert r.outcome == "merged"
    survivor = svc.reads.identity.resolve("cookie", "k2").person
    assert survivor.person_id == person_of(svc, "customer_id", "ANN")
    assert {n.key for n in survivor.nodes} == {"cookie:k1", "cookie:k2", "customer_id:ANN"}
    assert svc.reads.identity.person(other).person_id == survivor.person_id
    k2 = next(n for n in survivor.nodes if n.key == "cookie:k2")
    assert (k2.first_seen, k2.last_seen) == (2_000_000, 7_000_000)


def test_an_event_with_only_a_shared_identifier_is_stored_unattributed(svc):
    [r] = stitch(svc, [ev("web", ("cookie", "kiosk"), device_type="kiosk")])
    assert (r.outcome, r.person_id) == ("unattributed", None)


def test_configured_blocklist_values_and_patterns_never_link(make_service):
    svc = make_service(stitching={"blocklist": {"values": ["qa@example.com"], "patterns": [r"test-.*"]}})
    r1, r2 = stitch(
        svc,
        [
            login("ANN", ("email", "QA@example.com"), ("cookie", "test-123")),
            login("BOB", ("email", "qa@example.com"), ("cookie", "test-123")),
        ],
    )
    assert r1.person_id != r2.person_id
    assert [i.reason for i in r1.ignored] == ["blocklisted", "blocklisted"]


def test_configured_identifier_type_and_shared_device_class(make_service):
    svc = make_service(
        stitching={
            "identifier_types": {"crm_id": {"priority": 65, "cap": 1, "anchor": True}},
            "shared_device_types": ["family_tv"],
        }
    )
    r1, r2 = stitch(
        svc,
        [
            ev("app", ("crm_id", "X1"), ("device_id", "tv"), device_type="family_tv"),
            ev("app", ("crm_id", "X2"), ("device_id", "tv"), device_type="family_tv"),
        ],
    )
    assert r1.person_id != r2.person_id and is_shared(svc, "device_id", "tv")


def test_partition_is_the_same_whatever_the_delivery_order_when_evidence_never_conflicts(make_service):
    events = [
        login("ANN", ("cookie", "a1"), at=1),
        ev("email", ("email", "ann@example.com"), ("cookie", "a2"), at=2),
        login("ANN", ("email", "ann@example.com"), at=3),
        login("BOB", ("device_id", "b-phone"), channel="app", at=4),
        ev("pos", ("loyalty_number", "L-BOB"), ("card_token", "tb"), at=5),
        ev("pos", ("loyalty_number", "L-BOB"), ("customer_id", "BOB"), at=6),
    ]
    universe = [i for e in events for i in e.identifiers]
    attach = {"weak_links": {"attach_new": True}}  # the email click attaches a2 at once
    forward, backward = make_service(stitching=attach), make_service(stitching=attach)
    stitch(forward, events)
    for e in reversed(events):
        stitch(backward, [e])
    assert partition(forward, universe) == partition(backward, universe)
    assert len(partition(forward, universe)) == 2


def test_detaching_an_identifier_moves_it_alone_into_a_new_person(svc):
    pid = stitch(svc, [login("C1", ("cookie", "mine"), ("cookie", "stranger"))])[0].person_id
    done = svc.splits.detach("cookie", "stranger", to_new_person=True)
    left, new = done.person_id, done.new_person_id
    assert left == pid and new is not None and new != pid
    assert person_of(svc, "cookie", "stranger") == new
    assert person_of(svc, "cookie", "mine") == person_of(svc, "customer_id", "C1") == pid
    assert {n.key for n in svc.reads.identity.person(new).nodes} == {"cookie:stranger"}


def test_detaching_as_shared_keeps_the_person_using_it_and_it_never_links_again(svc):
    pa = stitch(svc, [login("ANN", ("cookie", "tablet"))])[0].person_id
    done = svc.splits.detach("cookie", "tablet", to_new_person=False)
    left, new = done.person_id, done.new_person_id
    assert (left, new) == (pa, None)
    assert svc.reads.identity.resolve("cookie", "tablet").shared.shared_by == (pa,)
    pb = stitch(svc, [login("BOB", ("cookie", "tablet"))])[0].person_id
    assert pb != pa and person_of(svc, "customer_id", "ANN") == pa


def test_an_identifier_cannot_be_detached_from_itself_nor_when_unknown_or_shared(svc):
    from common.errors import FailedPrecondition

    stitch(svc, [ev("web", ("cookie", "alone"))])
    with pytest.raises(FailedPrecondition):
        svc.splits.detach("cookie", "alone", to_new_person=True)
    with pytest.raises(NotFound):
        svc.splits.detach("cookie", "never-seen", to_new_person=True)
    svc.splits.detach("cookie", "alone", to_new_person=False)
    with pytest.raises(FailedPrecondition):
        svc.splits.detach("cookie", "alone", to_new_person=False)


def test_resolving_any_member_returns_the_whole_person_as_reading_it_by_id_does(make_service):
    """Resolve reads the person's graph from the identifier in one go; it must be the same graph
    (members, shared identifiers used, aliases, links) as reading the person by any of its ids."""
    svc = make_service(stitching={"weak_links": {"attach_new": True}})
    first = stitch(svc, [login("ANN", ("cookie", "tablet"), ("cookie", "ann-laptop"))])[0].person_id
    stitch(svc, [login("BOB", ("cookie", "tablet"))])  # the tablet becomes shared
    second = stitch(svc, [ev("app", ("device_id", "ann-phone"), ("email", "ann@example.com"))])[0].person_id
    stitch(svc, [login("ANN", ("device_id", "ann-phone"))])  # merges the second into the first
    by_id = svc.reads.identity.person(second)
    assert by_id.person_id == first and by_id.aliases == (second,)
    assert "cookie:tablet" in {n.key for n in by_id.nodes} and len(by_id.edges) >= 3
    for t, v in (("customer_id", "ANN"), ("cookie", "ann-laptop"), ("email", "ann@example.com")):
        assert svc.reads.identity.resolve(t, v).person == by_id


def test_batch_reads_answer_as_one_read_per_key_does(make_service):
    """BatchResolve and BatchGetProfiles read the graph once for all their keys; each answer must
    be the one a single read gives: a person's whole graph, a shared identifier's users, an alias
    naming its survivor, and unknown keys left out."""
    svc = make_service()
    first = stitch(svc, [login("ANN", ("cookie", "tablet"), ("cookie", "ann-laptop"))])[0].person_id
    bob = stitch(svc, [login("BOB", ("cookie", "tablet"))])[0].person_id
    second = stitch(svc, [ev("app", ("device_id", "ann-phone"))])[0].person_id
    stitch(svc, [login("ANN", ("device_id", "ann-phone"))])  # merges the second into the first
    keys = ["customer_id:ANN", "cookie:tablet", "device_id:ann-phone", "customer_id:BOB", "cookie:nobody"]
    graph = svc.graph
    people = graph.resolve_people(keys)
    assert set(people) == set(keys) - {"cookie:nobody"}
    for k in people:
        assert people[k] == graph.resolve_person(k)
    assert set(people["cookie:tablet"].shared_by) == {first, bob}  # type: ignore[union-attr]
    assert graph.resolve_many(keys) == {k: graph.resolve(k) for k in keys if graph.resolve(k) is not None}
    assert graph.live_persons([first, second, bob, "p_unknown"]) == {first: first, second: first, bob: bob}
    assert graph.resolve_people([]) == {} and graph.resolve_many([]) == {} and graph.live_persons([]) == {}


def _stitch_with_outbox(system, events, outbox):  # type: ignore[no-untyped-def]
    """One batch through the graph port, as the Ingest use case runs it, with the outbox entry
    `outbox(plan)` returns."""
    identity = system.identity
    batch = identity.prepare(events)

    def transaction(snap):  # type: ignore[no-untyped-def]
        plan = identity.plan(snap, batch)
        plan.changes.outbox = outbox(plan)
        return plan.changes, plan.changes.outbox

    return system.graph.stitch(
        keys=batch.keys, pairs=batch.pairs, event_ids=batch.event_ids, plan=transaction
    )


def test_an_outbox_entry_commits_with_its_batch_and_is_listed_oldest_first_until_done(svc):
    from identity.model import OutboxEntry

    first = _stitch_with_outbox(svc, [ev("web", ("cookie", "k1"))], lambda _: OutboxEntry("o1", 10, b"one"))
    second = _stitch_with_outbox(
        svc,
        [ev("web", ("cookie", "k1"), ("customer_id", "C1"))],
        lambda plan: OutboxEntry("o2", 20, repr(sorted(plan.merges.items())).encode()),
    )
    assert _stitch_with_outbox(svc, [ev("web", ("cookie", "k2"))], lambda _: None) is None  # nothing
    assert (first.id, second.id) == ("o1", "o2")

    def fail(plan):  # type: ignore[no-untyped-def]
        raise RuntimeError("the batch fails after its plan")

    with pytest.raises(RuntimeError):
        _stitch_with_outbox(svc, [ev("web", ("cookie", "k3"))], fail)
    graph = svc.graph
    listed = graph.outbox(before=2**62, limit=10)
    assert [(e.id, e.body) for e in listed] == [(first.id, b"one"), (second.id, b"[]")]
    assert [e.at for e in listed] == [10, 20]
    assert graph.outbox(before=10, limit=10) == []  # written before `before` only
    assert graph.outbox(before=2**62, limit=1) == listed[:1]
    graph.outbox_done([first.id, "unknown"])
    assert graph.outbox(before=2**62, limit=10) == listed[1:]


def test_a_detach_writes_its_outbox_entry_in_its_own_transaction(svc):
    from identity.model import OutboxEntry

    stitch(svc, [login("C1", ("cookie", "k1"))])
    entry = lambda left: OutboxEntry(f"d-{left}", 1, b"refold")  # noqa: E731
    left = svc.graph.detach("cookie:k1", new_person_id="p-new", outbox=entry)
    assert left is not None
    assert svc.graph.detach("cookie:k1", new_person_id="p-again", outbox=entry) is None  # alone now
    assert [(e.id, e.body) for e in svc.graph.outbox(before=2, limit=10)] == [(f"d-{left}", b"refold")]


def test_persons_linked_to_keys_are_found_through_links_of_any_strength(svc) -> None:
    ann = stitch(svc, [login("ANN", ("cookie", "ann-laptop"), at=1)])[0].person_id
    bob = stitch(svc, [login("BOB", ("email", "bob@example.com"), at=2)])[0].person_id
    stitch(
        svc, [ev("email", ("email", "bob@example.com"), ("cookie", "ann-laptop"), type="email_click", at=3)]
    )
    stitch(svc, [ev("web", ("cookie", "alone"), at=4)])
    [laptop] = [n.key for n in svc.reads.identity.person(ann).nodes if n.type == "cookie"]
    assert svc.graph.persons_linked_to([laptop]) == {ann, bob}  # its own person, and one held back
    [alone] = [
        n.key
        for n in svc.reads.identity.person(
            svc.reads.identity.resolve("cookie", "alone").person.person_id
        ).nodes
    ]
    assert svc.graph.persons_linked_to([alone]) == set()
