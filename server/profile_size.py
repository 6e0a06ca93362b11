"""The largest profile the limits allow, built field by field: every bounded map full, every
string at its bound, every number at its maximum. Its encoded size is the bound on any
GetProfile response for one person, whatever that person's events — what a hostile caller can
make a profile cost. `python -m server.profile_size` prints it for the settings in force.

It follows the limits: the string bounds of server.bounds, the map limits of profile_rules
(profiles.fold.canonical), the configured channels, traits, purposes and segments. A profile
field that grew without a limit would make a real profile larger than this one; the hardening
test feeds a person maximal events and checks that it is not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from google.protobuf.timestamp_pb2 import Timestamp

from identity.normalize import MAX_VALUE_BYTES
from identity.rules import MAX_NAME_BYTES
from idstitch.v1 import event_pb2 as ev_pb
from idstitch.v1 import profile_service_pb2 as pb
from resolvers.registry import BUILTIN
from server import bounds
from server.config import Settings, load_settings

INT64 = 2**63 - 1
INT32 = 2**31 - 1
CURRENCIES = 26**3
"""Every three-capital code: amounts are kept per currency, and nothing else bounds their number."""
HOST_BYTES = 255
"""Referrers are kept by host, cut at 255 characters (profiles.fold.referrer_host)."""
CHANNEL_BYTES = TYPE_BYTES = MAX_NAME_BYTES
NODE_ID_BYTES = TYPE_BYTES + 1 + 2 * MAX_VALUE_BYTES
"""`type:value` of a device; lower-casing can lengthen a few characters' UTF-8, hence twice."""


def _text(full_name: str) -> str:
    return "x" * bounds.TEXT_BYTES.get(full_name, bounds.DEFAULT_TEXT_BYTES)


def _ts() -> Timestamp:
    return Timestamp(seconds=253402300799, nanos=999_999_999)


def _money() -> ev_pb.Money:
    return ev_pb.Money(amount_minor=INT64, currency="XXX")


def _monies(n: int = CURRENCIES) -> Iterable[ev_pb.Money]:
    return (_money() for _ in range(n))


def _product() -> pb.ProductActivity:
    return pb.ProductActivity(
        sku=_text("idstitch.v1.Product.sku"), name=_text("idstitch.v1.Product.name"),
        category=_text("idstitch.v1.Product.category"), brand=_text("idstitch.v1.Product.brand"),
        unit_price=_money(), quantity=INT32, at=_ts(),
    )  # fmt: skip


def largest_profile(settings: Settings) -> pb.Profile:
    r = settings.profile_rules
    ctx = "idstitch.v1.Context."
    p = pb.Profile(person_id="p_" + "f" * 24, computed_at=_ts(), restricted=False)
    c = p.context
    c.events = INT64
    c.first_seen.CopyFrom(_ts())
    c.last_seen.CopyFrom(_ts())
    for _ in range(r.devices_limit):
        c.devices.add(
            node_id="x" * NODE_ID_BYTES, device_type=_text(ctx + "device_type"),
            channel="x" * CHANNEL_BYTES, first_seen=_ts(), last_seen=_ts(), events=INT64,
        )  # fmt: skip
    c.latest.CopyFrom(
        pb.RecentContext(
            at=_ts(), channel="x" * CHANNEL_BYTES, device_node_id="x" * NODE_ID_BYTES,
            device_type=_text(ctx + "device_type"), city=_text(ctx + "city"), region=_text(ctx + "region"),
            country=_text(ctx + "country"), referrer="x" * HOST_BYTES, store_id=_text(ctx + "store_id"),
        )
    )  # fmt: skip
    c.hour_of_day.extend([INT64] * 24)
    c.day_of_week.extend([INT64] * 7)
    c.referrers.extend(pb.Count(name="x" * HOST_BYTES, count=INT64) for _ in range(r.counter_limit))
    c.cities.extend(pb.Count(name=_text(ctx + "city"), count=INT64) for _ in range(r.counter_limit))
    c.channels.extend(pb.Count(name="x" * CHANNEL_BYTES, count=INT64) for _ in range(len(BUILTIN)))
    b = p.behavior
    b.viewed_products.extend(_product() for _ in range(r.recent_limit))
    b.viewed_categories.extend(
        pb.CategoryActivity(category=_text("idstitch.v1.Product.category"), at=_ts())
        for _ in range(r.recent_limit)
    )
    b.cart.extend(_product() for _ in range(r.cart_limit))
    b.cart_abandoned = True
    b.last_cart_activity.CopyFrom(_ts())
    b.cart_value.extend(_monies(r.cart_limit))
    b.recent_sessions.extend(
        pb.SessionSummary(
            session_id=_text(ctx + "session_id"), channel="x" * CHANNEL_BYTES,
            device_type=_text(ctx + "device_type"), last_seen=_ts(),
        )
        for _ in range(r.sessions_limit)
    )  # fmt: skip
    h = p.history
    h.orders = h.online_orders = h.in_store_orders = h.discounted_orders = INT64
    for money in (h.revenue, h.online_revenue, h.in_store_revenue, h.average_order_value, h.discount_total):
        money.extend(_monies())
    h.first_order.CopyFrom(_ts())
    h.last_order.CopyFrom(_ts())
    h.products_bought.extend(_product() for _ in range(r.recent_limit))
    h.loyalty.CopyFrom(pb.Loyalty(member=True, member_since=_ts(), tier=_text("idstitch.v1.TraitValue.text")))
    h.email.CopyFrom(
        pb.EmailInteractions(
            opens=INT64, clicks=INT64, last_campaign_id=_text("idstitch.v1.Campaign.campaign_id"),
            last_campaign_name=_text("idstitch.v1.Campaign.name"), last_click_at=_ts(),
        )
    )  # fmt: skip
    a = p.affinities
    for scores in (a.categories, a.brands):
        scores.extend(
            pb.Affinity(name=_text("idstitch.v1.Product.category"), score=1e308, share=1.0)
            for _ in range(r.affinity_limit)
        )
    a.price_tier = pb.PRICE_TIER_PREMIUM
    a.discount_ratio = 1.0
    a.discount_seeker = True
    p.segments.extend(r.segments)
    for name in r.traits:
        p.traits.add(
            name=name, value=pb.TraitValue(text=_text("idstitch.v1.TraitValue.text")),
            source=_text("idstitch.v1.TraitUpdate.source"), updated_at=_ts(),
        )  # fmt: skip
    for purpose in settings.privacy.purposes:
        source = _text("idstitch.v1.SetConsentRequest.source")
        p.consent.add(purpose=purpose, granted=True, conflict=True, source=source, updated_at=_ts())
    return p


def max_profile_bytes(settings: Settings) -> int:
    return largest_profile(settings).ByteSize()


if __name__ == "__main__":
    s = load_settings(sys.argv[1] if len(sys.argv) > 1 else None)  # type: ignore[arg-type]
    print(f"largest GetProfile response for one person: {max_profile_bytes(s):,} bytes")
