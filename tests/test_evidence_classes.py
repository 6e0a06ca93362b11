"""Each class of evidence has its policy (docs/stitching.md, "Evidence classes"): an app's own
device id and web-view cookie are one device; an address typed at checkout joins an anonymous
browser at once and is withdrawn when contradicted; a click forwarded onto a browser with history
waits; an order belongs to the person whose address was typed, even while the link waits.
Contract tests: they run on every graph backend (and profile backend, where profiles are read)."""

from __future__ import annotations

from identity.identifiers import EvidenceClass
from profiles.events import Money, Order
from profiles.reader import ProfileKey
from profiles.state import ProfileState
from tests.helpers import ev, login, person_of, shop, stitch
from tests.profile_data import assert_same_profile

T = 1_700_000_000_000_000
DAY = 86_400_000_000


def order(n: int, euros: int) -> Order:
    return Order(order_id=f"o-{n}", total=Money(euros * 100, "EUR"))


def test_an_apps_device_id_and_cookie_join_at_once_without_a_login(svc) -> None:
    [r] = stitch(svc, [ev("app", ("device_id", "dev-1"), ("cookie", "wv-1"), type="product_view", at=T)])
    assert r.outcome == "created" and not r.refused
    assert person_of(svc, "cookie", "wv-1") == person_of(svc, "device_id", "dev-1") == r.person_id
    # Two histories, then the app reports them together: one device, merged at once.
    stitch(svc, [ev("app", ("device_id", "dev-2"), type="app_open", at=T + 1)])
    stitch(svc, [ev("web", ("cookie", "wv-2"), type="product_view", at=T + 2)])
    [r] = stitch(svc, [ev("app", ("device_id", "dev-2"), ("cookie", "wv-2"), type="add_to_cart", at=T + 3)])
    assert r.outcome == "merged" and not r.refused
    assert person_of(svc, "cookie", "wv-2") == person_of(svc, "device_id", "dev-2")
    edge = svc.reads.identity.person(r.person_id).edges[0]
    assert (edge.rule, edge.proves) == ("app.same_device", EvidenceClass.SAME_DEVICE)


def test_a_device_used_by_two_logged_in_persons_is_still_shared_not_a_bridge(svc) -> None:
    ann = stitch(svc, [login("ANN", ("device_id", "family-ipad"), channel="app", at=T)])[0].person_id
    bob = stitch(svc, [login("BOB", ("cookie", "bob-wv"), channel="app", at=T + 1)])[0].person_id
    [r] = stitch(svc, [ev("app", ("device_id", "family-ipad"), ("cookie", "bob-wv"), at=T + 2)])
    assert person_of(svc, "customer_id", "ANN") == ann != bob == person_of(svc, "customer_id", "BOB")
    assert [x.action for x in r.refused] == ["marked_shared"]


def test_a_typed_checkout_email_joins_an_anonymous_browser_at_once_and_is_withdrawn_exactly(
    make_profiles,
) -> None:
    svc = make_profiles()
    ann_login = shop("web", ("customer_id", "ANN"), ("email", "ann@example.com"), type="login", at=T)
    browsing = [shop("web", ("cookie", "laptop"), type="product_view", at=T + DAY + i) for i in range(3)]
    checkout = shop(
        "web", ("cookie", "laptop"), ("email", "ann@example.com"), type="purchase", at=T + 2 * DAY,
        order=order(1, 45),
    )  # fmt: skip
    [*_, r] = stitch(svc, [ann_login, *browsing, checkout])
    ann = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "ANN")))
    assert r.person_id == ann and not r.refused  # the browser, history and all, is Ann's at once
    assert svc.reads.profiles.person_of(ProfileKey(identifier=("cookie", "laptop"))) == ann
    assert svc.reads.profiles.get(ProfileKey(person_id=ann)).state.events == 5
    # The laptop logs in as Bob: the typed address was contradicted. The browser goes to Bob with
    # its browsing; the order stays with the person whose address was typed.
    bob_login = shop("web", ("customer_id", "BOB"), ("cookie", "laptop"), type="login", at=T + 3 * DAY)
    [r] = stitch(svc, [bob_login])
    assert [(x.rule, x.action) for x in r.refused] == [("weak_link", "withdrawn")]
    bob = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "BOB")))
    assert svc.reads.profiles.person_of(ProfileKey(identifier=("cookie", "laptop"))) == bob != ann
    for pid, expected in ((ann, [ann_login, checkout]), (bob, [*browsing, bob_login])):
        log = svc.store.events_of(pid)
        assert {e.facts.event_id for e in log} == {raw.event_id for raw, _ in expected}
        assert_same_profile(
            svc.reads.profiles.get(ProfileKey(person_id=pid)).state,
            svc.folder.fold(ProfileState(), (e.facts for e in log)),
        )
    assert svc.reads.profiles.get(ProfileKey(person_id=ann)).state.orders == 1


def test_a_typed_email_delivered_before_the_login_that_contradicts_it_ends_the_same(make_service) -> None:
    """The login on the laptop happened first but arrives last: the same partition as in time
    order, where the laptop was Bob's when the address was typed (kept apart)."""
    events = [
        login("ANN", ("email", "ann@example.com"), at=T),
        login("BOB", ("cookie", "laptop"), at=T + 1),
        ev("web", ("cookie", "laptop"), ("email", "ann@example.com"), type="purchase", at=T + 2),
    ]
    parts = []
    for order_ in (events, [events[0], events[2], events[1]]):
        svc = make_service()
        for e in order_:
            stitch(svc, [e])
        parts.append((person_of(svc, "cookie", "laptop"), person_of(svc, "customer_id", "BOB")))
        assert person_of(svc, "email", "ann@example.com") == person_of(svc, "customer_id", "ANN")
    assert all(laptop == bob for laptop, bob in parts)


def test_a_forwarded_click_onto_a_browser_with_history_does_not_join_its_owner(svc) -> None:
    ann = stitch(svc, [login("ANN", ("email", "ann@example.com"), at=T)])[0].person_id
    friend = stitch(svc, [ev("web", ("cookie", "friend-laptop"), type="product_view", at=T + 1)])[0].person_id
    click = ev(
        "email", ("email", "ann@example.com"), ("cookie", "friend-laptop"), type="email_click", at=T + 2
    )
    [r] = stitch(svc, [click])
    assert [(x.rule, x.action) for x in r.refused] == [("weak_link", "pending")]
    assert person_of(svc, "cookie", "friend-laptop") == friend != ann
    [link] = svc.reads.identity.person(ann).unapplied
    assert link.edge.proves is EvidenceClass.CLICK_THROUGH


def test_a_guest_checkouts_order_is_in_the_email_owners_history_while_its_link_waits(make_profiles) -> None:
    """Bob's laptop, Ann's address typed at checkout (a gift): both persons hold a login, so the
    link is held back — and the order is Ann's, whose address was typed."""
    svc = make_profiles()
    stitch(svc, [
        shop("web", ("customer_id", "ANN"), ("email", "ann@example.com"), type="login", at=T),
        shop("web", ("customer_id", "BOB"), ("cookie", "bob-laptop"), type="login", at=T + 1),
    ])  # fmt: skip
    [r] = stitch(svc, [
        shop("web", ("cookie", "bob-laptop"), ("email", "ann@example.com"), type="purchase", at=T + 2,
             order=order(2, 80)),
    ])  # fmt: skip
    assert [(x.rule, x.action) for x in r.refused] == [("weak_link", "kept_apart")]
    ann = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "ANN")))
    bob = svc.reads.profiles.person_of(ProfileKey(identifier=("customer_id", "BOB")))
    assert r.person_id == ann != bob
    assert svc.reads.profiles.get(ProfileKey(person_id=ann)).state.orders == 1
    assert svc.reads.profiles.get(ProfileKey(person_id=bob)).state.orders == 0


def test_a_phone_given_at_the_till_with_a_spouses_card_is_withdrawn_when_its_owner_proves_it(svc) -> None:
    """A spouse pays with Ann's card and gives their own phone, which no login names yet: the
    declared phone joins Ann's person at once — until a verified call puts the phone with its
    owner, which withdraws it (and only it) from Ann."""
    ann = stitch(svc, [ev("pos", ("loyalty_number", "L-ANN"), ("card_token", "tok-ann"), type="purchase",
                         at=T)])[0].person_id  # fmt: skip
    [r] = stitch(svc, [ev("pos", ("card_token", "tok-ann"), ("phone", "+14155550100"), type="purchase",
                         at=T + 1)])  # fmt: skip
    assert not r.refused and person_of(svc, "phone", "+14155550100") == ann
    [r] = stitch(svc, [login("BOB", ("phone", "+14155550100"), channel="call_center", at=T + 2)])
    bob = person_of(svc, "customer_id", "BOB")
    assert person_of(svc, "phone", "+14155550100") == bob != ann
    assert person_of(svc, "card_token", "tok-ann") == person_of(svc, "loyalty_number", "L-ANN") == ann


def test_configured_classes_replace_a_channels_own_for_events_without_a_login(make_service) -> None:
    svc = make_service(stitching={"evidence": {"web": {"newsletter_click": "click_through"}}})
    stitch(svc, [login("ANN", ("email", "ann@example.com"), at=T)])
    stitch(svc, [ev("web", ("cookie", "k"), type="product_view", at=T + 1)])
    [r] = stitch(
        svc, [ev("web", ("cookie", "k"), ("email", "ann@example.com"), type="newsletter_click", at=T + 2)]
    )
    assert [(x.rule, x.action) for x in r.refused] == [("weak_link", "pending")]  # not declared
    [r] = stitch(svc, [ev("web", ("cookie", "k"), ("email", "ann@example.com"), type="sign_up", at=T + 3)])
    assert not r.refused and person_of(svc, "cookie", "k") == person_of(svc, "customer_id", "ANN")
