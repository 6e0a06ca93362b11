"""The law that makes merges and splits exact: a profile is a fold of its events through mergeable
aggregates, so merge(fold(A), fold(B)) == fold(A + B), in any order, for any split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.events import EventFacts, Item, Money, Order, decode_facts, encode_facts
from profiles.fold import Folder, referrer_host
from profiles.rules import ProfileRules
from profiles.state import ProfileState, decode_state, encode_state
from tests.profile_data import HOUR, T0, assert_same_profile, event_sets

# Small bounds, so truncation of the newest-first maps is exercised; counters stay under theirs.
RULES = ProfileRules(recent_limit=3, cart_limit=2, sessions_limit=2, half_life_days=2)
folder = Folder(RULES)


def fold(events: list[EventFacts]) -> ProfileState:
    return folder.fold(ProfileState(), events)


@given(event_sets(), st.data())
@settings(max_examples=300, deadline=None)
def test_merging_the_folds_of_two_parts_equals_the_fold_of_the_whole(
    events: list[EventFacts], data: st.DataObject
) -> None:
    in_a = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    a = [e for e, pick in zip(events, in_a, strict=True) if pick]
    b = [e for e, pick in zip(events, in_a, strict=True) if not pick]
    assert_same_profile(folder.merge(fold(a), fold(b)), fold(events))


@given(event_sets(), st.randoms())
@settings(max_examples=200, deadline=None)
def test_fold_does_not_depend_on_delivery_order(events: list[EventFacts], rnd: object) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert_same_profile(fold(shuffled), fold(events))


@given(event_sets(max_size=12), event_sets(max_size=12), event_sets(max_size=12))
@settings(max_examples=100, deadline=None)
def test_merge_is_associative_and_commutative(
    a: list[EventFacts], b: list[EventFacts], c: list[EventFacts]
) -> None:
    b = [_renamed(e, "b") for e in b]
    c = [_renamed(e, "c") for e in c]
    left = folder.merge(folder.merge(fold(a), fold(b)), fold(c))
    right = folder.merge(fold(c), folder.merge(fold(b), fold(a)))
    assert_same_profile(left, right)
    assert_same_profile(left, fold(a + b + c))


@given(event_sets())
@settings(max_examples=100, deadline=None)
def test_state_and_facts_survive_encoding(events: list[EventFacts]) -> None:
    state = fold(events)
    assert decode_state(encode_state(state)) == state
    assert [decode_facts(encode_facts(e)) for e in events] == events


def _renamed(e: EventFacts, prefix: str) -> EventFacts:
    import msgspec

    return msgspec.structs.replace(e, event_id=prefix + e.event_id)


def test_late_purchase_lands_in_history_and_clears_the_cart_it_checked_out() -> None:
    grill = Item(sku="g1", category="grills", brand="weber", price=Money(45_000, "USD"))
    add = EventFacts("e1", T0, "web", "add_to_cart", product=grill)
    order = Order(items=(grill,), total=Money(45_000, "USD"))
    buy = EventFacts("e2", T0 + HOUR, "web", "purchase", order=order)
    later_view = EventFacts("e3", T0 + 2 * HOUR, "web", "product_view", product=grill)
    s = fold([later_view, buy, add])  # the purchase arrives after the later view, the add last
    assert s.cart == {}
    assert s.orders == 1 and s.revenue == {"USD": 45_000} and s.last_order == T0 + HOUR
    assert list(s.bought) == ["g1"]
    assert s.price_tiers == {"premium": RULES.weights.view + RULES.weights.purchase}


def test_in_store_purchase_does_not_check_out_the_online_cart() -> None:
    tongs = Item(sku="t1", category="tools", price=Money(900, "USD"))
    grill = Item(sku="g1", category="grills", price=Money(45_000, "USD"))
    s = fold([
        EventFacts("e1", T0, "web", "add_to_cart", product=grill),
        EventFacts("e2", T0 + HOUR, "pos", "purchase", order=Order(items=(tongs,))),
    ])  # fmt: skip
    assert {sku for sku, line in s.cart.items() if line.op == "add"} == {"g1"}
    assert s.orders == 1 and s.orders_online == 0 and s.revenue == {"USD": 900}


def test_amounts_in_different_currencies_are_kept_apart() -> None:
    s = fold([
        EventFacts("e1", T0, "web", "purchase", order=Order(total=Money(1000, "USD"))),
        EventFacts("e2", T0, "web", "purchase", order=Order(total=Money(2000, "EUR"))),
        EventFacts("e3", T0, "web", "purchase", order=Order(total=Money(500, "USD"))),
    ])  # fmt: skip
    assert s.revenue == {"USD": 1500, "EUR": 2000}


def test_scores_halve_over_the_half_life() -> None:
    view = Item(sku="g1", category="grills")
    s = fold([
        EventFacts("e1", T0, "web", "product_view", product=view),
        EventFacts("e2", T0 + 2 * 24 * HOUR, "web", "product_view", product=view),
    ])  # fmt: skip
    assert abs(s.categories["grills"] - 1.5) < 1e-12  # 1 (now) + 1 halved (two days, half-life 2 days)


def test_referrers_are_counted_by_host_never_by_full_url() -> None:
    assert referrer_host("https://mail.example.com/inbox?user=ada@example.com") == "mail.example.com"
    assert referrer_host("news.example/path") == "news.example"
