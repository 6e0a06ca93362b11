"""What a profile says at a given moment: decayed scores, the abandoned cart, averages, segments.

The store holds aggregates; everything that depends on the reading time is worked out here, on
read, from one materialized state — never by refolding events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from profiles.fold import MICROS_PER_DAY, Folder
from profiles.segments import Rule, Value
from profiles.state import Decision, ProfileState, Seen

DISCOUNT_SEEKER_RATIO = 0.5
DISCOUNT_SEEKER_MIN_ORDERS = 2


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    score: float
    """Decayed weight at the reading time."""
    share: float
    """Fraction of all the person's scores of this kind (0..1); what segment rules compare."""


@dataclass(frozen=True, slots=True)
class ProfileReading:
    now: int
    categories: list[Score]
    brands: list[Score]
    cart: list[tuple[str, Seen]]
    cart_last_activity: int | None
    cart_abandoned: bool
    price_tier: str
    discount_ratio: float
    discount_seeker: bool
    average_order_value: dict[str, int]
    revenue_in_store: dict[str, int]
    segments: list[str]


@dataclass(frozen=True, slots=True)
class CartStatus:
    lines: list[tuple[str, Seen]]
    """What is in the cart, newest first."""
    last_activity: int | None
    abandoned: bool


def cart_status(state: ProfileState, *, folder: Folder, now: int) -> CartStatus:
    """The cart at `now` — a reading's cart alone, for those who need nothing else of it."""
    lines = sorted(
        ((sku, line) for sku, line in state.cart.items() if line.op == "add"),
        key=lambda kv: (kv[1].at, kv[1].eid, kv[0]),
        reverse=True,
    )
    last_activity = max((line.at for line in state.cart.values()), default=None)
    quiet_us = folder.rules.abandoned_cart_minutes * 60_000_000
    abandoned = bool(lines) and last_activity is not None and now - last_activity >= quiet_us
    return CartStatus(lines, last_activity, abandoned)


def read(state: ProfileState, *, folder: Folder, segments: Mapping[str, Rule], now: int) -> ProfileReading:
    factor = folder.decay(max(0, now - state.ref)) if state.ref is not None else 1.0
    cart = cart_status(state, folder=folder, now=now)
    ratio = state.discounted_orders / state.orders if state.orders else 0.0
    in_store = {
        c: v - state.revenue_online.get(c, 0)
        for c, v in state.revenue.items()
        if v - state.revenue_online.get(c, 0) != 0
    }
    reading = ProfileReading(
        now=now,
        categories=_scores(state.categories, factor),
        brands=_scores(state.brands, factor),
        cart=cart.lines,
        cart_last_activity=cart.last_activity,
        cart_abandoned=cart.abandoned,
        price_tier=max(sorted(state.price_tiers), key=lambda t: state.price_tiers[t], default=""),
        discount_ratio=ratio,
        discount_seeker=state.orders >= DISCOUNT_SEEKER_MIN_ORDERS and ratio >= DISCOUNT_SEEKER_RATIO,
        average_order_value={c: round(v / state.orders) for c, v in state.revenue.items()}
        if state.orders
        else {},
        revenue_in_store=in_store,
        segments=[],
    )
    lookup = _Lookup(state, reading)
    reading.segments.extend(name for name, rule in segments.items() if rule(lookup))
    return reading


def _scores(raw: Mapping[str, float], factor: float) -> list[Score]:
    total = sum(raw.values())
    ranked = sorted(raw.items(), key=lambda kv: (-kv[1], kv[0]))
    return [Score(k, v * factor, v / total if total > 0 else 0.0) for k, v in ranked]


class _Lookup:
    """The fields segment rules can name (see profiles.segments.FIELDS), read lazily."""

    def __init__(self, state: ProfileState, reading: ProfileReading) -> None:
        self.s, self.r = state, reading

    def __call__(self, field: str, key: str | None) -> Value | None:
        s, r = self.s, self.r
        if key is not None:
            if field == "affinity.category":
                return next((x.share for x in r.categories if x.name == key), None)
            if field == "affinity.brand":
                return next((x.share for x in r.brands if x.name == key), None)
            if field == "history.revenue":
                return s.revenue.get(key)
            if field == "history.aov":
                return r.average_order_value.get(key)
            if field == "traits":
                trait = s.traits.get(key)
                return None if trait is None else trait.value
            return None
        ctx = s.last_context
        match field:
            case "context.events":
                return s.events
            case "context.devices":
                return len(s.devices)
            case "context.days_since_last_seen":
                return None if s.last_seen is None else (r.now - s.last_seen) / MICROS_PER_DAY
            case "context.channel":
                return None if ctx is None else ctx.channel
            case "context.city":
                return None if ctx is None else ctx.city
            case "context.country":
                return None if ctx is None else ctx.country
            case "behavior.viewed_products":
                return len(s.viewed_products)
            case "behavior.cart_items":
                return len(r.cart)
            case "behavior.cart_abandoned":
                return r.cart_abandoned
            case "history.orders":
                return s.orders
            case "history.online_orders":
                return s.orders_online
            case "history.in_store_orders":
                return s.orders - s.orders_online
            case "history.days_since_last_order":
                return None if s.last_order is None else (r.now - s.last_order) / MICROS_PER_DAY
            case "history.loyalty_member":
                return s.loyalty_since is not None
            case "history.email_opens":
                return s.email_opens
            case "history.email_clicks":
                return s.email_clicks
            case "affinity.price_tier":
                return r.price_tier or None
            case "affinity.discount_ratio":
                return r.discount_ratio
            case "affinity.discount_seeker":
                return r.discount_seeker
        return None


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    purpose: str
    granted: bool
    """Effective: False if any subject's latest decision denies it."""
    conflict: bool
    """The person's subjects disagree (persons with different decisions merged)."""
    latest: Decision


def consent_of(state: ProfileState) -> list[ConsentStatus]:
    out = []
    for purpose, by_subject in sorted(state.consent.items()):
        decisions = list(by_subject.values())
        latest = max(decisions, key=lambda d: (d.at, d.eid))
        granted = all(d.granted for d in decisions)
        out.append(ConsentStatus(purpose, granted, len({d.granted for d in decisions}) > 1, latest))
    return out
