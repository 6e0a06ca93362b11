"""What a profile learns from one event: the facts a channel sent, minus its identifiers.

The fold never sees an identifier value: it gets the identifier *types* (a loyalty number makes a
loyalty member) and the node id of the device the event came from. Facts are stored in the profile
store's event log, so a person's profile can always be re-derived from their events.
"""

from __future__ import annotations

import msgspec


class Money(msgspec.Struct, array_like=True, frozen=True):
    """An amount in minor units (cents) of an ISO 4217 currency. Never summed across currencies."""

    amount_minor: int
    currency: str


class Item(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True):
    """A product as an event names it: viewed, carted, or bought (then with a quantity)."""

    sku: str = ""
    name: str = ""
    category: str = ""
    brand: str = ""
    quantity: int = 1
    price: Money | None = None
    """Unit price."""
    discount: Money | None = None


class Order(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True):
    order_id: str = ""
    items: tuple[Item, ...] = ()
    total: Money | None = None
    discount: Money | None = None
    coupon_code: str = ""


class TraitValue(msgspec.Struct, array_like=True, frozen=True):
    """An explicit attribute a channel knows (loyalty tier, preferred store), with its source and
    the time it was true from."""

    value: str | int | float | bool
    source: str
    at: int


class ConsentValue(msgspec.Struct, array_like=True, frozen=True):
    """A consent decision for one purpose, as given through one subject."""

    granted: bool
    source: str
    at: int
    subject: str
    """Node id of the identifier it was given through ("" for a person id)."""


class EventFacts(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True):
    event_id: str
    occurred_at: int
    """Microseconds since the Unix epoch."""
    channel: str
    type: str
    identifier_types: tuple[str, ...] = ()
    device: str = ""
    """Node id of the person's own device or cookie the event came through ("" if none or shared)."""
    device_type: str = ""
    city: str = ""
    region: str = ""
    country: str = ""
    referrer: str = ""
    store_id: str = ""
    session_id: str = ""
    product: Item | None = None
    order: Order | None = None
    campaign_id: str = ""
    campaign_name: str = ""
    traits: dict[str, TraitValue] = {}
    """Only for `traits` events (UpdateTraits)."""
    consent: dict[str, ConsentValue] = {}
    """Only for `consent` events (SetConsent), by purpose."""


TRAITS_EVENT = "traits"
CONSENT_EVENT = "consent"

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(EventFacts)


def encode_facts(facts: EventFacts) -> bytes:
    return _encoder.encode(facts)


def decode_facts(blob: bytes) -> EventFacts:
    return _decoder.decode(blob)
