"""Proto ↔ domain conversion for profiles: event facts in, profiles out. Shapes only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from google.protobuf.descriptor import Descriptor
from google.protobuf.field_mask_pb2 import FieldMask

from common.errors import InvalidArgument
from identity.service import RawEvent
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import profile_service_pb2 as pb
from profiles.events import EventFacts, Item, Money, Order
from profiles.reader import FoundProfile, ProfileKey
from profiles.state import ProfileState, Seen
from profiles.view import ProfileReading, consent_of
from server import bounds
from server.convert import micros, raw_event, timestamp
from usecases.person_requests import TraitInput

CURRENCY = re.compile(r"[A-Z]{3}")
TIERS = {"budget": pb.PRICE_TIER_BUDGET, "mid": pb.PRICE_TIER_MID, "premium": pb.PRICE_TIER_PREMIUM}

PROFILE_DESCRIPTOR = cast(Descriptor, pb.Profile.DESCRIPTOR)  # upb's descriptor stands in for it


# -- in -------------------------------------------------------------------------------------


def ingest_batch(events: Sequence[ev_pb.Event], field: str, now: int) -> list[tuple[RawEvent, EventFacts]]:
    """A request's events as ingest takes them: what stitching needs and what profiles fold,
    each error naming `field[i]`."""
    batch = []
    for i, e in enumerate(events):
        raw = raw_event(e, f"{field}[{i}]", now)
        batch.append((raw, event_facts(e, raw.occurred_at, f"{field}[{i}]")))
    return batch


def event_facts(e: ev_pb.Event, occurred_at: int, field: str) -> EventFacts:
    """The facts a profile folds from an event (identifier types and device are added after
    stitching). Strings and lists were bounded at the door (server.bounds); this validates money
    and quantities, naming the field."""
    ctx = e.context
    return EventFacts(
        event_id=e.event_id,
        occurred_at=occurred_at,
        channel=e.channel,
        type=e.type,
        device_type=ctx.device_type,
        city=ctx.city,
        region=ctx.region,
        country=ctx.country,
        referrer=ctx.referrer,
        store_id=ctx.store_id,
        session_id=ctx.session_id,
        product=_item(e.product, f"{field}.product", price_field="price") if e.HasField("product") else None,
        order=_order(e.order, f"{field}.order") if e.HasField("order") else None,
        campaign_id=e.campaign.campaign_id,
        campaign_name=e.campaign.name,
    )


def _opt_money(msg: ev_pb.Product | ev_pb.OrderItem | ev_pb.Order, name: str, field: str) -> Money | None:
    if not msg.HasField(name):
        return None
    m: ev_pb.Money = getattr(msg, name)
    if len(m.currency) != 3 or not CURRENCY.fullmatch(m.currency):
        raise InvalidArgument(f"{field}.{name}.currency", "an ISO 4217 code (three capitals) is required")
    bounds.check_amount(m.amount_minor, f"{field}.{name}.amount_minor")
    return Money(m.amount_minor, m.currency)


def _item(p: ev_pb.Product | ev_pb.OrderItem, field: str, *, price_field: str) -> Item:
    bounds.check_quantity(p.quantity, f"{field}.quantity")
    item = Item(
        sku=p.sku,
        name=p.name,
        category=p.category,
        brand=p.brand,
        quantity=p.quantity or 1,
        price=_opt_money(p, price_field, field),
        discount=_opt_money(p, "discount", field) if isinstance(p, ev_pb.OrderItem) else None,
    )
    if item.price is not None and item.price.amount_minor * item.quantity > bounds.MAX_AMOUNT_MINOR:
        # A line's value is summed into carts and revenue.
        raise InvalidArgument(
            f"{field}.quantity", f"unit price times quantity must be at most {bounds.MAX_AMOUNT_MINOR}"
        )
    return item


def _order(o: ev_pb.Order, field: str) -> Order:
    return Order(
        order_id=o.order_id,
        items=tuple(
            _item(it, f"{field}.items[{i}]", price_field="unit_price") for i, it in enumerate(o.items)
        ),
        total=_opt_money(o, "total", field),
        discount=_opt_money(o, "discount", field),
        coupon_code=o.coupon_code,
    )


def profile_key(k: pb.ProfileKey, field: str) -> ProfileKey:
    which = k.WhichOneof("key")
    if which == "person_id":
        return ProfileKey(person_id=k.person_id)
    if which == "identifier":
        return ProfileKey(identifier=(k.identifier.type, k.identifier.value))
    raise InvalidArgument(field, "one of person_id or identifier is required")


def trait_inputs(updates: list[pb.TraitUpdate], field: str) -> list[TraitInput]:
    out = []
    for i, u in enumerate(updates):
        kind = u.value.WhichOneof("kind")
        out.append(
            TraitInput(
                name=u.name,
                kind=kind,
                value=getattr(u.value, kind) if kind else None,
                source=u.source,
                updated_at=micros(u.updated_at, f"{field}[{i}].updated_at")
                if u.HasField("updated_at")
                else None,
            )
        )
    return out


def check_mask(mask: FieldMask, field: str) -> FieldMask | None:
    if not mask.paths:
        return None
    for i, path in enumerate(mask.paths):
        if not FieldMask(paths=[path]).IsValidForDescriptor(PROFILE_DESCRIPTOR):
            raise InvalidArgument(f"{field}.paths[{i}]", "not a field path of Profile")
    return mask


# -- out ------------------------------------------------------------------------------------


def profile(found: FoundProfile, mask: FieldMask | None = None, *, full: bool = False) -> pb.Profile:
    """The profile as a reader sees it; `full` ignores a personalization denial (for the
    person's own export)."""
    if found.restricted and not full:
        out = pb.Profile(person_id=found.person_id, computed_at=timestamp(found.reading.now), restricted=True)
        out.consent.extend(_consent(found.state))
        return out
    full_profile = _profile(found)
    if mask is None:
        return full_profile
    out = pb.Profile()
    mask.MergeMessage(full_profile, out)
    out.person_id = full_profile.person_id
    out.computed_at.CopyFrom(full_profile.computed_at)
    return out


def _consent(s: ProfileState) -> list[pb.ConsentState]:
    return [
        pb.ConsentState(
            purpose=c.purpose, granted=c.granted, conflict=c.conflict, source=c.latest.source,
            updated_at=timestamp(c.latest.at),
        )
        for c in consent_of(s)
    ]  # fmt: skip


def _profile(found: FoundProfile) -> pb.Profile:
    s, r = found.state, found.reading
    p = pb.Profile(person_id=found.person_id, computed_at=timestamp(r.now), segments=r.segments)
    _context(p.context, s)
    _behavior(p.behavior, s, r)
    _history(p.history, s, r)
    _affinities(p.affinities, r)
    for name, t in sorted(s.traits.items()):
        p.traits.add(name=name, value=trait_value(t.value), source=t.source, updated_at=timestamp(t.at))
    p.consent.extend(_consent(s))
    return p


def _context(c: pb.ProfileContext, s: ProfileState) -> None:
    c.events = s.events
    if s.first_seen is not None and s.last_seen is not None:
        c.first_seen.CopyFrom(timestamp(s.first_seen))
        c.last_seen.CopyFrom(timestamp(s.last_seen))
    for key, d in sorted(s.devices.items(), key=lambda kv: (-kv[1].last, kv[0])):
        c.devices.add(
            node_id=key, device_type=d.type, channel=d.channel, first_seen=timestamp(d.first),
            last_seen=timestamp(d.last), events=d.events,
        )  # fmt: skip
    if (x := s.last_context) is not None:
        c.latest.CopyFrom(
            pb.RecentContext(
                at=timestamp(x.at), channel=x.channel, device_node_id=x.device, device_type=x.device_type,
                city=x.city, region=x.region, country=x.country, referrer=x.referrer, store_id=x.store_id,
            )
        )  # fmt: skip
    c.hour_of_day.extend(s.hours)
    c.day_of_week.extend(s.weekdays)
    for target, counts in ((c.referrers, s.referrers), (c.cities, s.cities), (c.channels, s.channels)):
        target.extend(
            pb.Count(name=k, count=n) for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )


def _behavior(b: pb.ProfileBehavior, s: ProfileState, r: ProfileReading) -> None:
    b.viewed_products.extend(_product(sku, x) for sku, x in _newest(s.viewed_products))
    b.viewed_categories.extend(
        pb.CategoryActivity(category=k, at=timestamp(x.at)) for k, x in _newest(s.viewed_categories)
    )
    b.cart.extend(_product(sku, x) for sku, x in r.cart)
    b.cart_abandoned = r.cart_abandoned
    if r.cart_last_activity is not None:
        b.last_cart_activity.CopyFrom(timestamp(r.cart_last_activity))
    value: dict[str, int] = {}
    for _, x in r.cart:
        if x.price is not None:
            value[x.price.currency] = value.get(x.price.currency, 0) + x.price.amount_minor * max(
                x.quantity, 1
            )
    b.cart_value.extend(_money_list(value))
    b.recent_sessions.extend(
        pb.SessionSummary(
            session_id=k, channel=x.channel, device_type=x.device_type, last_seen=timestamp(x.at)
        )
        for k, x in _newest(s.sessions)
    )


def _history(h: pb.ProfileHistory, s: ProfileState, r: ProfileReading) -> None:
    h.orders, h.online_orders, h.in_store_orders = s.orders, s.orders_online, s.orders - s.orders_online
    h.revenue.extend(_money_list(s.revenue))
    h.online_revenue.extend(_money_list(s.revenue_online))
    h.in_store_revenue.extend(_money_list(r.revenue_in_store))
    h.average_order_value.extend(_money_list(r.average_order_value))
    if s.first_order is not None and s.last_order is not None:
        h.first_order.CopyFrom(timestamp(s.first_order))
        h.last_order.CopyFrom(timestamp(s.last_order))
    h.products_bought.extend(_product(sku, x) for sku, x in _newest(s.bought))
    h.discounted_orders = s.discounted_orders
    h.discount_total.extend(_money_list(s.discount_total))
    h.loyalty.member = s.loyalty_since is not None
    if s.loyalty_since is not None:
        h.loyalty.member_since.CopyFrom(timestamp(s.loyalty_since))
    tier = s.traits.get("loyalty_tier")
    h.loyalty.tier = str(tier.value) if tier is not None else ""
    h.email.opens, h.email.clicks = s.email_opens, s.email_clicks
    if (click := s.last_click) is not None:
        h.email.last_campaign_id, h.email.last_campaign_name = click.campaign_id, click.name
        h.email.last_click_at.CopyFrom(timestamp(click.at))


def _affinities(a: pb.ProfileAffinities, r: ProfileReading) -> None:
    a.categories.extend(pb.Affinity(name=x.name, score=x.score, share=x.share) for x in r.categories)
    a.brands.extend(pb.Affinity(name=x.name, score=x.score, share=x.share) for x in r.brands)
    a.price_tier = TIERS.get(r.price_tier, pb.PRICE_TIER_UNSPECIFIED)
    a.discount_ratio, a.discount_seeker = r.discount_ratio, r.discount_seeker


def trait_value(v: str | int | float | bool) -> pb.TraitValue:
    if isinstance(v, bool):
        return pb.TraitValue(flag=v)
    if isinstance(v, int):
        return pb.TraitValue(integer=v)
    if isinstance(v, float):
        return pb.TraitValue(number=v)
    return pb.TraitValue(text=v)


def _newest(entries: dict[str, Seen]) -> list[tuple[str, Seen]]:
    return sorted(entries.items(), key=lambda kv: (kv[1].at, kv[1].eid, kv[0]), reverse=True)


def _product(sku: str, x: Seen) -> pb.ProductActivity:
    out = pb.ProductActivity(
        sku=sku, name=x.name, category=x.category, brand=x.brand, quantity=x.quantity, at=timestamp(x.at)
    )
    if x.price is not None:
        out.unit_price.CopyFrom(ev_pb.Money(amount_minor=x.price.amount_minor, currency=x.price.currency))
    return out


def _money_list(sums: dict[str, int]) -> list[ev_pb.Money]:
    return [ev_pb.Money(amount_minor=v, currency=c) for c, v in sorted(sums.items())]
