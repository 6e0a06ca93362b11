"""Hypothesis strategies for profile events, and a float-tolerant comparison of profile states."""

from __future__ import annotations

import math

import msgspec
from hypothesis import strategies as st

from profiles.events import ConsentValue, EventFacts, Item, Money, Order, TraitValue
from profiles.state import ProfileState

T0 = 1_700_000_000_000_000
HOUR = 3_600_000_000
TYPES = [
    "page_view", "product_view", "category_view", "add_to_cart", "remove_from_cart", "purchase",
    "email_open", "email_click", "login", "traits", "consent",
]  # fmt: skip

money = st.builds(Money, st.integers(0, 30_000), st.sampled_from(["USD", "EUR", "JPY"]))
item = st.builds(
    Item,
    sku=st.sampled_from(["", "sku-1", "sku-2", "sku-3", "sku-4", "sku-5"]),
    name=st.sampled_from(["", "Grill", "Tongs"]),
    category=st.sampled_from(["", "grills", "tools", "garden"]),
    brand=st.sampled_from(["", "weber", "acme"]),
    quantity=st.integers(1, 3),
    price=st.none() | money,
    discount=st.none() | money,
)
order = st.builds(
    Order,
    order_id=st.text("abc", max_size=3),
    items=st.lists(item, max_size=3).map(tuple),
    total=st.none() | money,
    discount=st.none() | money,
    coupon_code=st.sampled_from(["", "SAVE10"]),
)
traits = st.dictionaries(
    st.sampled_from(["loyalty_tier", "preferred_store"]),
    st.builds(
        TraitValue,
        st.sampled_from(["gold", "silver", 3, 2.5, True]),
        st.sampled_from(["crm", "pos"]),
        st.integers(T0, T0 + 200 * HOUR),
    ),
    max_size=2,
)


consents = st.dictionaries(
    st.sampled_from(["personalization", "analytics"]),
    st.builds(
        ConsentValue,
        st.booleans(),
        st.sampled_from(["banner", "crm"]),
        st.integers(T0, T0 + 200 * HOUR),
        st.sampled_from(["", "cookie:c1", "email#abc"]),
    ),
    max_size=2,
)


@st.composite
def event_facts(draw: st.DrawFn, event_id: str) -> EventFacts:
    type_ = draw(st.sampled_from(TYPES))
    return EventFacts(
        event_id=event_id,
        # Ties on occurred_at are common on purpose: event ids must break them the same way everywhere.
        occurred_at=T0 + draw(st.integers(0, 40)) * HOUR * draw(st.sampled_from([1, 24])),
        channel=draw(st.sampled_from(["web", "app", "pos", "email"])),
        type=type_,
        identifier_types=tuple(draw(st.sets(st.sampled_from(["cookie", "loyalty_number", "email"])))),
        device=draw(st.sampled_from(["", "device_id:d1", "cookie:c1", "cookie:c2"])),
        device_type=draw(st.sampled_from(["", "mobile", "desktop"])),
        city=draw(st.sampled_from(["", "Oslo", "Lyon"])),
        referrer=draw(st.sampled_from(["", "https://www.google.com/search?q=x", "news.example"])),
        session_id=draw(st.sampled_from(["", "s1", "s2", "s3", "s4"])),
        product=draw(st.none() | item),
        order=draw(order) if type_ == "purchase" else None,
        campaign_id=draw(st.sampled_from(["", "spring"])),
        traits=draw(traits) if type_ == "traits" else {},
        consent=draw(consents) if type_ == "consent" else {},
    )


@st.composite
def event_sets(draw: st.DrawFn, max_size: int = 30) -> list[EventFacts]:
    n = draw(st.integers(0, max_size))
    return [draw(event_facts(f"e{i:03d}")) for i in range(n)]


def assert_same_profile(a: ProfileState, b: ProfileState, rel: float = 1e-9) -> None:
    """Equal, except that floats (decayed scores) may differ by rounding: relative 1e-9."""
    _close(msgspec.to_builtins(a), msgspec.to_builtins(b), "profile", rel)


def _close(x: object, y: object, path: str, rel: float) -> None:
    if isinstance(x, float) or isinstance(y, float):
        assert isinstance(x, int | float) and isinstance(y, int | float), f"{path}: {x!r} != {y!r}"
        assert math.isclose(x, y, rel_tol=rel, abs_tol=1e-12), f"{path}: {x!r} != {y!r}"
    elif isinstance(x, dict) and isinstance(y, dict):
        assert x.keys() == y.keys(), f"{path}: keys {sorted(x)} != {sorted(y)}"
        for k in x:
            _close(x[k], y[k], f"{path}.{k}", rel)
    elif isinstance(x, list) and isinstance(y, list):
        assert len(x) == len(y), f"{path}: {x!r} != {y!r}"
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _close(u, v, f"{path}[{i}]", rel)
    else:
        assert x == y, f"{path}: {x!r} != {y!r}"
