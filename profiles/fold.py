"""Folding events into profile states, and merging two states.

`fold` and `merge` keep one law, checked by property tests: for any split of an event set into A
and B, merge(fold(A), fold(B)) == fold(A + B), independent of delivery order. Duplicates never
reach the fold: the profile store records each event id once.

Bounded maps stay exact because what they keep is decided by a total order on entries,
(occurred_at, event_id, key), that does not depend on which side an entry came from. The cart drops
lines older than the last online checkout after every step, which commutes for the same reason.
Counters capped at a limit (referrers, cities, category and brand scores) and the devices kept
(the most recently used) are exact while under the limit. With every string of an event bounded
at the API, these limits bound a profile's size whatever its events (server/profile_size.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from profiles.events import CONSENT_EVENT, TRAITS_EVENT, EventFacts, Item, Money
from profiles.rules import ProfileRules
from profiles.state import Click, Decision, Device, LastContext, ProfileState, Seen, Trait

MICROS_PER_HOUR = 3_600 * 1_000_000
MICROS_PER_DAY = 24 * MICROS_PER_HOUR
EPOCH_WEEKDAY = 3
"""1970-01-01 was a Thursday (Monday = 0): weekdays in UTC without a datetime per event."""
N = TypeVar("N", int, float)


class Folder:
    def __init__(self, rules: ProfileRules) -> None:
        self.rules = rules
        self._half_life_us = rules.half_life_days * MICROS_PER_DAY
        self._types = rules.event_types

    # -- decay -------------------------------------------------------------------------------

    def decay(self, elapsed_us: int) -> float:
        """The factor a score keeps after `elapsed_us` (≥ 0) without activity."""
        return math.exp2(-elapsed_us / self._half_life_us)

    def _rebase(self, s: ProfileState, ref: int) -> None:
        """Holds the scores against a later reference time."""
        if s.ref is None or ref <= s.ref:
            if s.ref is None:
                s.ref = ref
            return
        f = self.decay(ref - s.ref)
        s.categories = {k: v * f for k, v in s.categories.items()}
        s.brands = {k: v * f for k, v in s.brands.items()}
        s.ref = ref

    def _score(self, s: ProfileState, at: int, item: Item, weight: float) -> None:
        if weight == 0 or not (item.category or item.brand):
            return
        self._rebase(s, at)
        assert s.ref is not None
        w = weight * self.decay(s.ref - at)
        if item.category:
            s.categories[item.category] = s.categories.get(item.category, 0.0) + w
        if item.brand:
            s.brands[item.brand] = s.brands.get(item.brand, 0.0) + w

    def _tier(self, s: ProfileState, price: Money | None, weight: float) -> None:
        if price is None or weight == 0:
            return
        bounds = self.rules.price_tiers.get(price.currency)
        if bounds is None:
            return
        low, high = bounds
        tier = "budget" if price.amount_minor < low else ("premium" if price.amount_minor >= high else "mid")
        s.price_tiers[tier] = s.price_tiers.get(tier, 0.0) + weight

    # -- fold --------------------------------------------------------------------------------

    def fold(self, s: ProfileState, events: Iterable[EventFacts]) -> ProfileState:
        for ev in events:
            self._fold_one(s, ev)
        self.canonical(s)
        return s

    def _fold_one(self, s: ProfileState, ev: EventFacts) -> None:
        at, eid = ev.occurred_at, ev.event_id
        if ev.type == TRAITS_EVENT:  # explicit attributes, not activity
            for name, trait in ev.traits.items():
                _newest_trait(s.traits, name, Trait(trait.at, eid, trait.value, trait.source))
            return
        if ev.type == CONSENT_EVENT:
            for purpose, c in ev.consent.items():
                _newest_decision(s.consent, purpose, c.subject, Decision(c.at, eid, c.granted, c.source))
            return
        s.events += 1
        s.first_seen = at if s.first_seen is None else min(s.first_seen, at)
        s.last_seen = at if s.last_seen is None else max(s.last_seen, at)
        _count(s.channels, ev.channel)
        s.hours[at // MICROS_PER_HOUR % 24] += 1
        s.weekdays[(at // MICROS_PER_DAY + EPOCH_WEEKDAY) % 7] += 1
        if ev.city:
            _count(s.cities, ev.city)
        if ev.referrer and (host := referrer_host(ev.referrer)):
            _count(s.referrers, host)
        if ev.device:
            _put_device(s.devices, ev.device, Device(at, at, 1, at, eid, ev.device_type, ev.channel))
        if s.last_context is None or (at, eid) > (s.last_context.at, s.last_context.eid):
            s.last_context = LastContext(
                at, eid, ev.channel, ev.device, ev.device_type, ev.city, ev.region, ev.country,
                referrer_host(ev.referrer) if ev.referrer else "", ev.store_id,
            )  # fmt: skip
        if ev.session_id:
            _newest(s.sessions, ev.session_id, Seen(at, eid, channel=ev.channel, device_type=ev.device_type))
        if "loyalty_number" in ev.identifier_types:
            s.loyalty_since = at if s.loyalty_since is None else min(s.loyalty_since, at)

        kind, weights = self._types, self.rules.weights
        if ev.product is not None:
            p = ev.product
            if ev.type in kind.view:
                if p.sku:
                    _newest(s.viewed_products, p.sku, _seen(at, eid, p))
                if p.category:
                    _newest(s.viewed_categories, p.category, Seen(at, eid))
                self._score(s, at, p, weights.view)
                self._tier(s, p.price, weights.view)
            elif ev.type in kind.add_to_cart and p.sku:
                _newest(s.cart, p.sku, _seen(at, eid, p, op="add"))
                self._score(s, at, p, weights.cart)
            elif ev.type in kind.remove_from_cart and p.sku:
                _newest(s.cart, p.sku, _seen(at, eid, p, op="remove"))
        if ev.type in kind.purchase and ev.order is not None:
            self._purchase(s, ev)
        if ev.type in kind.email_open:
            s.email_opens += 1
        elif ev.type in kind.email_click:
            s.email_clicks += 1
            click = Click(at, eid, ev.campaign_id, ev.campaign_name)
            if _newer(click, s.last_click):
                s.last_click = click

    def _purchase(self, s: ProfileState, ev: EventFacts) -> None:
        at, eid, order = ev.occurred_at, ev.event_id, ev.order
        assert order is not None
        online = ev.channel in self.rules.online_channels
        s.orders += 1
        s.orders_online += online
        s.first_order = at if s.first_order is None else min(s.first_order, at)
        s.last_order = at if s.last_order is None else max(s.last_order, at)
        for money in order_revenue(order.total, order.items):
            _add_money(s.revenue, money)
            if online:
                _add_money(s.revenue_online, money)
        discounts = [order.discount] if order.discount else []
        discounts += [i.discount for i in order.items if i.discount is not None]
        discounts = [d for d in discounts if d is not None and d.amount_minor > 0]
        if discounts or order.coupon_code:
            s.discounted_orders += 1
            for d in discounts:
                _add_money(s.discount_total, d)
        weight = self.rules.weights.purchase
        for item in order.items:
            if item.sku:
                _newest(s.bought, item.sku, _seen(at, eid, item, op="bought"))
                _newest(s.cart, item.sku, _seen(at, eid, item, op="bought"))
            self._score(s, at, item, weight)
            self._tier(s, item.price, weight)
        if online:
            s.checkout_at = at if s.checkout_at is None else max(s.checkout_at, at)

    # -- merge -------------------------------------------------------------------------------

    def merge(self, a: ProfileState, b: ProfileState) -> ProfileState:
        """The profile of the union of the two event sets. Consumes both."""
        s = a
        s.events += b.events
        s.first_seen = _min(a.first_seen, b.first_seen)
        s.last_seen = _max(a.last_seen, b.last_seen)
        _sum_into(s.channels, b.channels)
        for key, d in b.devices.items():
            _put_device(s.devices, key, d)
        if b.last_context is not None and (
            s.last_context is None
            or (b.last_context.at, b.last_context.eid) > (s.last_context.at, s.last_context.eid)
        ):
            s.last_context = b.last_context
        s.hours = [x + y for x, y in zip(a.hours, b.hours, strict=True)]
        s.weekdays = [x + y for x, y in zip(a.weekdays, b.weekdays, strict=True)]
        _sum_into(s.referrers, b.referrers)
        _sum_into(s.cities, b.cities)
        for mine, theirs in (
            (s.viewed_products, b.viewed_products),
            (s.viewed_categories, b.viewed_categories),
            (s.cart, b.cart),
            (s.sessions, b.sessions),
            (s.bought, b.bought),
        ):
            for key, seen in theirs.items():
                _newest(mine, key, seen)
        s.checkout_at = _max(a.checkout_at, b.checkout_at)
        s.orders += b.orders
        s.orders_online += b.orders_online
        _sum_money_into(s.revenue, b.revenue)
        _sum_money_into(s.revenue_online, b.revenue_online)
        s.first_order = _min(a.first_order, b.first_order)
        s.last_order = _max(a.last_order, b.last_order)
        s.discounted_orders += b.discounted_orders
        _sum_money_into(s.discount_total, b.discount_total)
        s.loyalty_since = _min(a.loyalty_since, b.loyalty_since)
        s.email_opens += b.email_opens
        s.email_clicks += b.email_clicks
        if _newer(b.last_click, s.last_click):
            s.last_click = b.last_click
        if b.ref is not None:
            self._rebase(s, b.ref)
            self._rebase(b, s.ref)  # type: ignore[arg-type]
            _sum_into(s.categories, b.categories)
            _sum_into(s.brands, b.brands)
        _sum_into(s.price_tiers, b.price_tiers)
        for name, trait in b.traits.items():
            _newest_trait(s.traits, name, trait)
        for purpose, by_subject in b.consent.items():
            for subject, decision in by_subject.items():
                _newest_decision(s.consent, purpose, subject, decision)
        self.canonical(s)
        return s

    # -- bounds ------------------------------------------------------------------------------

    def canonical(self, s: ProfileState) -> None:
        """Applies the bounds. Idempotent, and the same whichever side of a merge entries came from."""
        r = self.rules
        if s.checkout_at is not None:
            stale = [k for k, line in s.cart.items() if line.at <= s.checkout_at]
            for k in stale:
                del s.cart[k]
        for name, limit in (
            ("viewed_products", r.recent_limit),
            ("viewed_categories", r.recent_limit),
            ("bought", r.recent_limit),
            ("cart", r.cart_limit),
            ("sessions", r.sessions_limit),
        ):
            entries: dict[str, Seen] = getattr(s, name)
            if len(entries) > limit:
                keep = sorted(entries.items(), key=lambda kv: (kv[1].at, kv[1].eid, kv[0]), reverse=True)
                setattr(s, name, dict(keep[:limit]))
        if len(s.devices) > r.devices_limit:
            newest = sorted(s.devices.items(), key=lambda kv: (kv[1].last, kv[0]), reverse=True)
            s.devices = dict(newest[: r.devices_limit])
        for purpose, by_subject in s.consent.items():
            if len(by_subject) > r.consent_subjects_limit:
                # A denial is never the one forgotten while a grant is kept: that would turn the
                # person's most restrictive decision into a grant.
                kept = sorted(
                    by_subject.items(), key=lambda kv: (not kv[1].granted, kv[1].at, kv[1].eid, kv[0])
                )
                s.consent[purpose] = dict(kept[-r.consent_subjects_limit :])
        for name, limit in (("referrers", r.counter_limit), ("cities", r.counter_limit)):
            counts: dict[str, int] = getattr(s, name)
            if len(counts) > limit:
                setattr(s, name, dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]))
        for name in ("categories", "brands"):
            scores: dict[str, float] = getattr(s, name)
            if len(scores) > r.affinity_limit:
                ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
                setattr(s, name, dict(ranked[: r.affinity_limit]))


@lru_cache(maxsize=4096)
def referrer_host(referrer: str) -> str:
    """Referrers are counted by host: a full URL can carry personal data in its query string."""
    try:
        host = urlsplit(referrer if "//" in referrer else "//" + referrer).hostname or ""
    except ValueError:  # "http://[", a bracketed host that is no IP address: no host to count
        return ""
    return host[:255]


def order_revenue(total: Money | None, items: Iterable[Item]) -> list[Money]:
    """An order's revenue per currency: its total when given, else the sum of its lines."""
    if total is not None:
        return [total]
    sums: dict[str, int] = {}
    for i in items:
        if i.price is not None:
            line = i.price.amount_minor * i.quantity
            if i.discount is not None and i.discount.currency == i.price.currency:
                line -= i.discount.amount_minor
            sums[i.price.currency] = sums.get(i.price.currency, 0) + line
    return [Money(v, c) for c, v in sorted(sums.items())]


def _seen(at: int, eid: str, item: Item, *, op: str = "") -> Seen:
    return Seen(at, eid, item.name, item.category, item.brand, item.price, item.quantity, op)


def _newest(entries: dict[str, Seen], key: str, seen: Seen) -> None:
    old = entries.get(key)
    if old is None or (seen.at, seen.eid) > (old.at, old.eid):
        entries[key] = seen


def _newest_trait(traits: dict[str, Trait], name: str, trait: Trait) -> None:
    old = traits.get(name)
    if old is None or (trait.at, trait.eid) > (old.at, old.eid):
        traits[name] = trait


def _newest_decision(
    consent: dict[str, dict[str, Decision]], purpose: str, subject: str, d: Decision
) -> None:
    by_subject = consent.setdefault(purpose, {})
    if _newer(d, by_subject.get(subject)):
        by_subject[subject] = d


def _put_device(devices: dict[str, Device], key: str, d: Device) -> None:
    old = devices.get(key)
    if old is None:
        devices[key] = Device(d.first, d.last, d.events, d.at, d.eid, d.type, d.channel)
        return
    old.first = min(old.first, d.first)
    old.last = max(old.last, d.last)
    old.events += d.events
    if (d.at, d.eid) > (old.at, old.eid):
        old.at, old.eid, old.type, old.channel = d.at, d.eid, d.type, d.channel


def _count(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


MAX_MONEY_SUM = 2**63 - 1
"""Sums of money stop here (int64, what the API carries): a person's revenue cannot grow past what
a reader can be sent, however many maximal orders arrive. No real sum comes near it."""


def _add_money(sums: dict[str, int], m: Money) -> None:
    sums[m.currency] = min(sums.get(m.currency, 0) + m.amount_minor, MAX_MONEY_SUM)


def _sum_money_into(mine: dict[str, int], theirs: dict[str, int]) -> None:
    for k, v in theirs.items():
        mine[k] = min(mine.get(k, 0) + v, MAX_MONEY_SUM)


def _sum_into(mine: dict[str, N], theirs: dict[str, N]) -> None:
    for k, v in theirs.items():
        mine[k] = mine.get(k, 0) + v


class _Stamped(Protocol):
    at: int
    eid: str


def _newer(new: _Stamped | None, old: _Stamped | None) -> bool:
    """Last writer wins, by (occurred_at, event_id): the same winner in any delivery order."""
    return new is not None and (old is None or (new.at, new.eid) > (old.at, old.eid))


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else (a if b is None else min(a, b))


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else (a if b is None else max(a, b))
