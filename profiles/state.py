"""The materialized profile: mergeable aggregates of a person's events.

Every field is a counter, a sum, a min/max, a last-writer-wins register ordered by
(occurred_at, event_id), a bounded newest-first map, or a decayed score held against a reference
time. Each of these merges exactly: merging the states of two event sets gives the state of their
union, whatever the order of delivery (decayed scores up to float rounding). That is what lets two
persons' profiles merge without refolding, and a split refold each part from its own events.
"""

from __future__ import annotations

import msgspec

from profiles.events import Money


class Seen(msgspec.Struct, array_like=True, omit_defaults=True):
    """One entry of a bounded newest-first map (viewed product, cart line, session, ...)."""

    at: int
    eid: str
    name: str = ""
    category: str = ""
    brand: str = ""
    price: Money | None = None
    quantity: int = 0
    op: str = ""
    """Cart lines: `add`, `remove` or `bought`."""
    channel: str = ""
    device_type: str = ""


class Device(msgspec.Struct, array_like=True):
    first: int
    last: int
    events: int
    at: int
    eid: str
    type: str
    channel: str


class LastContext(msgspec.Struct, array_like=True, omit_defaults=True):
    at: int
    eid: str
    channel: str = ""
    device: str = ""
    device_type: str = ""
    city: str = ""
    region: str = ""
    country: str = ""
    referrer: str = ""
    store_id: str = ""


class Click(msgspec.Struct, array_like=True):
    at: int
    eid: str
    campaign_id: str
    name: str


class Trait(msgspec.Struct, array_like=True):
    at: int
    eid: str
    value: str | int | float | bool
    source: str


class Decision(msgspec.Struct, array_like=True):
    at: int
    eid: str
    granted: bool
    source: str


def _hours() -> list[int]:
    return [0] * 24


def _weekdays() -> list[int]:
    return [0] * 7


class ProfileState(msgspec.Struct, omit_defaults=True):
    events: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    # context
    channels: dict[str, int] = {}
    devices: dict[str, Device] = {}
    last_context: LastContext | None = None
    hours: list[int] = msgspec.field(default_factory=_hours)
    """Events by hour of day (UTC)."""
    weekdays: list[int] = msgspec.field(default_factory=_weekdays)
    """Events by day of week (UTC), Monday first."""
    referrers: dict[str, int] = {}
    cities: dict[str, int] = {}
    # behavior
    viewed_products: dict[str, Seen] = {}
    viewed_categories: dict[str, Seen] = {}
    cart: dict[str, Seen] = {}
    checkout_at: int | None = None
    sessions: dict[str, Seen] = {}
    # history
    orders: int = 0
    orders_online: int = 0
    revenue: dict[str, int] = {}
    revenue_online: dict[str, int] = {}
    first_order: int | None = None
    last_order: int | None = None
    bought: dict[str, Seen] = {}
    discounted_orders: int = 0
    discount_total: dict[str, int] = {}
    loyalty_since: int | None = None
    email_opens: int = 0
    email_clicks: int = 0
    last_click: Click | None = None
    # affinities
    ref: int | None = None
    """Reference time (µs) the decayed scores are held against."""
    categories: dict[str, float] = {}
    brands: dict[str, float] = {}
    price_tiers: dict[str, float] = {}
    traits: dict[str, Trait] = {}
    consent: dict[str, dict[str, Decision]] = {}
    """Per purpose, the latest decision given through each subject (identifier node id, or "" for
    the person id). Through one subject the latest wins; across subjects — persons that merged —
    the most restrictive does, and differing decisions are a recorded conflict."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ProfileState)


def encode_state(state: ProfileState) -> bytes:
    return _encoder.encode(state)


def decode_state(blob: bytes) -> ProfileState:
    return _decoder.decode(blob)
