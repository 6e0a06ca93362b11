"""Profiles through the service, on every graph and profile backend: folded at ingest, merged and
split with the identity graph, traits, segments, and the edge cases of reading them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound, StoreUnavailable
from profiles.events import Item, Money, Order
from profiles.ports import Appended, LoggedEvent
from profiles.reader import Missing, ProfileKey
from profiles.state import ProfileState
from server.bootstrap import System
from tests.helpers import shop
from tests.profile_data import HOUR, T0, assert_same_profile
from usecases.ingest import Ingest
from usecases.person_requests import TraitInput

MINUTE = 60_000_000
GRILL = Item(sku="g1", name="Kettle grill", category="grills", brand="weber", price=Money(45_000, "USD"))
DOLL = Item(sku="d1", name="Doll", category="toys", brand="acme", price=Money(1_500, "USD"))


def by(type_name: str, value: str) -> ProfileKey:
    return ProfileKey(identifier=(type_name, value))


def refold(svc: System, person_id: str) -> ProfileState:
    """The profile as a fresh fold of the person's recorded events."""
    return svc.folder.fold(ProfileState(), (e.facts for e in svc.store.events_of(person_id)))


@pytest.fixture
def profiles(make_profiles: Callable[..., System]) -> System:
    return make_profiles(clock=lambda: T0 + 100 * HOUR)


def test_a_page_view_is_in_the_next_profile_read(profiles: System) -> None:
    profiles.ingest([shop("web", ("cookie", "k1"), type="product_view", product=GRILL, city="Lyon")])
    got = profiles.reads.profiles.get(by("cookie", "k1"))
    assert list(got.state.viewed_products) == ["g1"]
    assert got.state.last_context is not None and got.state.last_context.city == "Lyon"
    assert got.state.devices.keys() == {"cookie:k1"}
    assert [s.name for s in got.reading.categories] == ["grills"]


def test_a_redelivered_event_counts_once(profiles: System) -> None:
    e = shop("web", ("cookie", "k1"), type="purchase", order=Order(total=Money(100, "USD")))
    profiles.ingest([e])
    profiles.ingest([e, e])
    assert profiles.reads.profiles.get(by("cookie", "k1")).state.orders == 1


def test_a_merge_gives_exactly_the_fold_of_both_persons_events(profiles: System) -> None:
    profiles.ingest([
        shop("web", ("cookie", "laptop"), type="product_view", product=GRILL, at=T0),
        shop("web", ("cookie", "laptop"), type="add_to_cart", product=GRILL, at=T0 + HOUR),
        shop("app", ("customer_id", "C1"), ("device_id", "phone"), type="product_view", product=DOLL, at=T0),
        shop("pos", ("loyalty_number", "L1"), ("card_token", "t1"), type="purchase",
             order=Order(items=(DOLL,)), at=T0 + 2 * HOUR, store_id="s9"),
    ])  # fmt: skip
    laptop = profiles.reads.profiles.get(by("cookie", "laptop")).person_id
    login = profiles.reads.profiles.get(by("customer_id", "C1")).person_id
    assert laptop != login
    [r] = profiles.ingest(
        [shop("web", ("customer_id", "C1"), ("cookie", "laptop"), type="login", at=T0 + 3 * HOUR)]
    )
    [r2] = profiles.ingest([shop("pos", ("loyalty_number", "L1"), ("customer_id", "C1"), at=T0 + 4 * HOUR)])
    assert r.outcome == r2.outcome == "merged"
    merged = profiles.reads.profiles.get(by("cookie", "laptop"))
    assert merged.person_id == profiles.reads.profiles.get(by("loyalty_number", "L1")).person_id
    assert_same_profile(merged.state, refold(profiles, merged.person_id))
    assert merged.state.events == 6 and merged.state.orders == 1
    assert merged.state.devices.keys() == {"cookie:laptop", "device_id:phone"}
    assert {s.name for s in merged.reading.categories} == {"grills", "toys"}
    assert merged.state.loyalty_since == T0 + 2 * HOUR
    # The merged-away ids still answer, with the survivor's profile.
    for old in (laptop, login):
        assert profiles.reads.profiles.get(ProfileKey(person_id=old)).person_id == merged.person_id


def test_detaching_a_wrongly_stitched_cookie_splits_the_profile_exactly(profiles: System) -> None:
    profiles.ingest([
        shop("web", ("customer_id", "ANN"), ("cookie", "ann-laptop"), type="login", at=T0),
        shop("web", ("cookie", "ann-laptop"), type="product_view", product=GRILL, at=T0 + HOUR),
        # A relative's browser, stitched to Ann by one login on it.
        shop("web", ("customer_id", "ANN"), ("cookie", "nephew"), type="login", at=T0 + 2 * HOUR),
        shop("web", ("cookie", "nephew"), type="product_view", product=DOLL, at=T0 + 3 * HOUR),
        shop("web", ("cookie", "nephew"), type="add_to_cart", product=DOLL, at=T0 + 3 * HOUR),
    ])  # fmt: skip
    ann = profiles.reads.profiles.get(by("customer_id", "ANN"))
    assert {s.name for s in ann.reading.categories} == {"grills", "toys"}
    done = profiles.splits.detach("cookie", "nephew", to_new_person=True)
    assert done.person_id == ann.person_id and done.new_person_id is not None
    assert (done.person_events, done.new_person_events) == (3, 2)
    ann_after = profiles.reads.profiles.get(by("customer_id", "ANN"))
    nephew = profiles.reads.profiles.get(by("cookie", "nephew"))
    assert nephew.person_id == done.new_person_id
    assert_same_profile(ann_after.state, refold(profiles, ann.person_id))
    assert_same_profile(nephew.state, refold(profiles, nephew.person_id))
    assert {s.name for s in ann_after.reading.categories} == {"grills"}
    assert ann_after.state.cart == {} and "d1" not in ann_after.state.viewed_products
    assert {s.name for s in nephew.reading.categories} == {"toys"} and list(nephew.state.cart) == ["d1"]
    assert ann_after.state.events + nephew.state.events == ann.state.events


def test_a_person_with_identifiers_but_no_events_has_an_empty_profile(profiles: System) -> None:
    profiles.ingest([shop("web", ("customer_id", "C1"), ("cookie", "k"), type="login")])
    # The login leaves, and takes the event it named; the cookie's person keeps no event.
    done = profiles.splits.detach("customer_id", "C1", to_new_person=True)
    assert (done.person_events, done.new_person_events) == (0, 1)
    empty = profiles.reads.profiles.get(by("cookie", "k"))
    assert empty.person_id == done.person_id
    assert empty.state.events == 0 and empty.state.devices == {} and empty.reading.segments == []


def test_traits_are_typed_validated_idempotent_and_follow_merges(profiles: System) -> None:
    profiles.ingest([shop("pos", ("loyalty_number", "L1"), type="purchase", order=Order())])
    tier = TraitInput("loyalty_tier", "text", "gold", "loyalty", T0)
    pid, applied = profiles.requests.update_traits(by("loyalty_number", "L1"), "req-1", [tier])
    assert applied
    assert profiles.requests.update_traits(by("loyalty_number", "L1"), "req-1", [tier]) == (pid, False)
    older = TraitInput("loyalty_tier", "text", "silver", "crm", T0 - HOUR)
    profiles.requests.update_traits(by("loyalty_number", "L1"), "req-2", [older])
    assert (
        profiles.reads.profiles.get(by("loyalty_number", "L1")).state.traits["loyalty_tier"].value == "gold"
    )
    with pytest.raises(InvalidArgument, match=r"traits\[0\]\.value"):
        profiles.requests.update_traits(
            by("loyalty_number", "L1"), "r3", [TraitInput("household_size", "text", "4", "crm", None)]
        )
    with pytest.raises(InvalidArgument, match=r"traits\[0\]\.value"):
        profiles.requests.update_traits(
            by("loyalty_number", "L1"), "r4", [TraitInput("loyalty_tier", "text", "diamond", "crm", None)]
        )
    with pytest.raises(InvalidArgument, match=r"traits\[1\]\.name"):
        profiles.requests.update_traits(
            by("loyalty_number", "L1"), "r5", [tier, TraitInput("shoe_size", "integer", 9, "crm", None)]
        )
    profiles.ingest([shop("web", ("loyalty_number", "L1"), ("customer_id", "C9"), type="login")])
    profiles.ingest([shop("web", ("customer_id", "C9"), ("cookie", "other"), type="login")])
    assert profiles.reads.profiles.get(by("cookie", "other")).state.traits["loyalty_tier"].value == "gold"


def test_an_abandoned_cart_is_one_left_quiet_for_the_configured_time(
    make_profiles: Callable[..., System],
) -> None:
    now = [T0]
    profiles = make_profiles(clock=lambda: now[0], profile_rules={"abandoned_cart_minutes": 30})
    profiles.ingest([shop("web", ("cookie", "k"), type="add_to_cart", product=GRILL, at=T0)])
    now[0] = T0 + 29 * MINUTE
    assert not profiles.reads.profiles.get(by("cookie", "k")).reading.cart_abandoned
    now[0] = T0 + 30 * MINUTE
    assert profiles.reads.profiles.get(by("cookie", "k")).reading.cart_abandoned
    profiles.ingest(
        [shop("web", ("cookie", "k"), type="purchase", order=Order(items=(GRILL,)), at=T0 + 31 * MINUTE)]
    )
    got = profiles.reads.profiles.get(by("cookie", "k")).reading
    assert got.cart == [] and not got.cart_abandoned


SEGMENTS = {
    "grillers": "affinity.category.grills > 0.5 and history.orders >= 1",
    "big_usd": "history.revenue.USD >= 40000",
    "gold": 'traits.loyalty_tier in ["gold", "platinum"]',
    "lyon_web": 'context.city == "Lyon" and context.channel != "pos"',
    "not_abandoned": "not behavior.cart_abandoned",
    "premium": 'affinity.price_tier == "premium"',
    "weber_fan": 'affinity.brand["weber"] >= 0.9 or (history.orders > 5 and history.loyalty_member)',
    "never": "history.days_since_last_order < 0",
}


def test_each_segment_rule_form_is_evaluated_on_read(make_profiles: Callable[..., System]) -> None:
    profiles = make_profiles(clock=lambda: T0 + HOUR, profile_rules={"segments": SEGMENTS})
    profiles.ingest([
        shop("web", ("cookie", "k"), type="product_view", product=GRILL, at=T0),
        shop("web", ("cookie", "k"), type="purchase", order=Order(items=(GRILL,), total=Money(45_000, "USD")),
             at=T0 + MINUTE, city="Lyon"),
    ])  # fmt: skip
    profiles.requests.update_traits(
        by("cookie", "k"), "t", [TraitInput("loyalty_tier", "text", "gold", "crm", None)]
    )
    got = profiles.reads.profiles.get(by("cookie", "k")).reading
    assert sorted(got.segments) == [
        "big_usd",
        "gold",
        "grillers",
        "lyon_web",
        "not_abandoned",
        "premium",
        "weber_fan",
    ]


def test_a_segment_rule_that_does_not_compile_stops_startup_with_its_name() -> None:
    from pydantic import ValidationError

    from server.config import load_settings

    with pytest.raises(ValidationError, match=r"segments\.oops: unknown field 'history\.order'"):
        load_settings(profile_rules={"segments": {"oops": "history.order > 1"}})


def test_the_clocks_of_the_segment_rules_are_the_days_they_compare_with() -> None:
    """What says when time alone can turn a segment (the change feed's sweeper works from it):
    every number a clock field is compared with, and nothing else."""
    from profiles.segments import clocks

    rules = {
        "recent": "context.days_since_last_seen < 7 and history.orders > 1",
        "lapsed": "not context.days_since_last_seen <= 30.5 or history.days_since_last_order in [90, 180]",
        "fans": "affinity.category.grills > 0.5 and context.channel == 'web'",
    }
    assert clocks(rules) == {
        "context.days_since_last_seen": (7.0, 30.5),
        "history.days_since_last_order": (90.0, 180.0),
    }
    assert clocks({"fans": rules["fans"]}) == {}


def test_profile_keys_that_name_no_single_person_are_refused_clearly(profiles: System) -> None:
    profiles.ingest([shop("web", ("customer_id", "A"), ("cookie", "tab"), type="login")])
    profiles.ingest([shop("web", ("customer_id", "B"), ("cookie", "tab"), type="login")])
    with pytest.raises(InvalidArgument, match=r"key\.identifier: shared"):
        profiles.reads.profiles.get(by("cookie", "tab"))
    with pytest.raises(InvalidArgument, match=r"key\.identifier\.value: junk"):
        profiles.reads.profiles.get(by("cookie", "undefined"))
    with pytest.raises(NotFound):
        profiles.reads.profiles.get(by("cookie", "never"))
    with pytest.raises(NotFound):
        profiles.reads.profiles.get(ProfileKey(person_id="p_nobody"))
    with pytest.raises(InvalidArgument, match=r"key\.person_id: required"):
        profiles.reads.profiles.get(ProfileKey(person_id=""))
    got = profiles.reads.profiles.get_many(
        [by("customer_id", "A"), by("cookie", "tab"), by("cookie", "null"), by("cookie", "x")]
    )
    assert [g.reason if isinstance(g, Missing) else "found" for g in got] == [
        "found",
        "shared",
        "junk_value",
        "unknown",
    ]


class FailsOnce:
    """The real store, with one append failing after the graph committed (a fault, not a fake)."""

    def __init__(self, store: object) -> None:
        self._store = store
        self.failed = False

    def append(
        self, *, events: list[LoggedEvent], merges: dict[str, str], folding: object, **kw: object
    ) -> Appended:
        if not self.failed:
            self.failed = True
            raise StoreUnavailable("profile store went away")
        return self._store.append(events=events, merges=merges, folding=folding, **kw)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_a_batch_retried_after_the_profile_store_failed_completes_its_merges(
    profiles: System,
) -> None:
    profiles.ingest([
        shop("web", ("cookie", "laptop"), type="product_view", product=GRILL),
        shop("app", ("customer_id", "C1"), type="product_view", product=DOLL),
    ])  # fmt: skip
    linking = [shop("web", ("customer_id", "C1"), ("cookie", "laptop"), type="add_to_cart", product=GRILL)]
    system = profiles
    failing = Ingest(
        identity=system.identity,
        graph=system.graph,
        store=FailsOnce(system.store),  # type: ignore[arg-type]
        folder=system.folder,
        gate=system.splits.gate,
        splits=system.splits,
        shared_device_types=[],
    )
    with pytest.raises(StoreUnavailable):
        failing(linking)  # the graph merged the two persons; the profiles did not
    [r] = profiles.ingest(linking)  # the caller retries
    assert r.outcome == "duplicate"
    got = profiles.reads.profiles.get(by("cookie", "laptop"))
    assert got.state.events == 3 and {s.name for s in got.reading.categories} == {"grills", "toys"}
    assert_same_profile(got.state, refold(profiles, got.person_id))


def test_mixed_currencies_are_never_summed(profiles: System) -> None:
    profiles.ingest([
        shop("web", ("cookie", "k"), type="purchase", order=Order(total=Money(1000, "USD"))),
        shop("web", ("cookie", "k"), type="purchase", order=Order(total=Money(900, "EUR"))),
    ])  # fmt: skip
    got = profiles.reads.profiles.get(by("cookie", "k"))
    assert got.state.revenue == {"USD": 1000, "EUR": 900}
    assert got.reading.average_order_value == {"USD": 500, "EUR": 450}


def test_detach_refuses_what_cannot_be_split(profiles: System) -> None:
    profiles.ingest([shop("web", ("cookie", "alone"))])
    with pytest.raises(FailedPrecondition):
        profiles.splits.detach("cookie", "alone", to_new_person=True)
