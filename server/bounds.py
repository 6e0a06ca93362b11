"""Bounds on everything a caller sends: the length of every string, the number of entries of
every repeated field and map, and the range of every number that is summed or multiplied.

One table, checked generically over the request message by its descriptor, so no field is left
unbounded because nobody remembered it: a field not named here gets the default bound. The
checks run before anything is applied, and the error names the field and the rule, never the
value. The proto comments and README ("Bad input") list the same figures.
"""

from __future__ import annotations

import math
from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from common.errors import InvalidArgument

DEFAULT_TEXT_BYTES = 1024
"""Any string not named below: context fields, campaign fields, attribute values, ids."""
DEFAULT_ENTRIES = 1000
"""Any repeated field not named below."""

TEXT_BYTES: dict[str, int] = {
    "idstitch.v1.Event.type": 64,
    "idstitch.v1.Product.sku": 256,
    "idstitch.v1.Product.name": 256,
    "idstitch.v1.Product.category": 256,
    "idstitch.v1.Product.brand": 256,
    "idstitch.v1.OrderItem.sku": 256,
    "idstitch.v1.OrderItem.name": 256,
    "idstitch.v1.OrderItem.category": 256,
    "idstitch.v1.OrderItem.brand": 256,
    "idstitch.v1.Order.order_id": 256,
    "idstitch.v1.Order.coupon_code": 256,
    "idstitch.v1.Campaign.campaign_id": 256,
    "idstitch.v1.Campaign.name": 256,
    "idstitch.v1.Context.user_agent": 1024,
    "idstitch.v1.Context.page_url": 2048,
    "idstitch.v1.Context.referrer": 2048,
    "idstitch.v1.Event.AttributesEntry.key": 64,
    "idstitch.v1.TraitUpdate.name": 64,
    "idstitch.v1.TraitUpdate.source": 64,
    "idstitch.v1.TraitValue.text": 256,
    "idstitch.v1.SetConsentRequest.purpose": 64,
    "idstitch.v1.SetConsentRequest.source": 64,
    "idstitch.v1.CreateKeyRequest.role": 64,
    "idstitch.v1.RevokeKeyRequest.key_id": 64,
    "google.protobuf.FieldMask.paths": 128,
    "idstitch.v1.WatchRequest.segments": 256,
    "idstitch.v1.WatchRequest.store_ids": 256,
    "idstitch.v1.WatchRequest.cursor": 64,
    "idstitch.v1.ListChangesRequest.person_id": 64,
}
"""Per field (full name), the most UTF-8 bytes a string may have. Identifier values (1 KiB),
event and request ids (256 bytes) are bounded by the domain, which names its own rules."""

ENTRIES: dict[str, int] = {
    "idstitch.v1.Event.attributes": 32,
    "idstitch.v1.Order.items": 100,
    "idstitch.v1.UpdateTraitsRequest.traits": 64,
    "google.protobuf.FieldMask.paths": 64,
    "idstitch.v1.WatchRequest.kinds": 16,
    "idstitch.v1.WatchRequest.segments": 32,
    "idstitch.v1.WatchRequest.store_ids": 32,
}
"""Per repeated field or map (full name), the most entries. Batches (events, identifiers, keys)
are bounded by the domain: 1,000 events and identifiers, 500 profile keys, 20 identifiers an event."""

DOMAIN_BOUNDED = frozenset(
    {
        "idstitch.v1.IngestRequest.events",
        "idstitch.v1.IngestStreamRequest.events",
        "idstitch.v1.BatchResolveRequest.identifiers",
        "idstitch.v1.BatchGetProfilesRequest.keys",
        "idstitch.v1.Event.identifiers",
        "idstitch.v1.Identifier.value",
        "idstitch.v1.Identifier.type",
        "idstitch.v1.Event.event_id",
        "idstitch.v1.Event.channel",
        "idstitch.v1.Money.currency",
    }
)
"""Checked by the domain with messages of its own (the batch size, the 1 KiB value), or only ever
one of a configured set (channels, identifier types: anything else is refused by name)."""

MAX_AMOUNT_MINOR = 10**12
"""Largest money amount of one price, discount or order total (ten billion in major units): far
above any real order, and far enough below 2^63 that sums over many orders stay exact."""
MAX_QUANTITY = 1_000_000
"""Largest quantity of one product or order line."""


def check(message: Message, field: str = "") -> None:
    """Raises InvalidArgument naming the first field of `message` (or of its sub-messages) over
    its bound. A sub-message whose whole encoding is shorter than the smallest bound below it
    cannot break any and is not walked, so a typical event costs a few attribute reads."""
    try:
        _walk(message)
    except _Over as over:
        path = "".join(reversed(over.path))
        raise InvalidArgument(f"{field}{path}" if field else path.lstrip("."), over.problem) from None


class _Over(Exception):
    """A bound broken deep in a message: the path is gathered on the way out, so the walk of a
    message within its bounds builds no strings."""

    def __init__(self, step: str, problem: str) -> None:
        self.path = [step]
        self.problem = problem


def _walk(message: Message) -> None:
    for name, kind, limit, sub in _plan(message.DESCRIPTOR):
        if kind is _TEXT:
            text = getattr(message, name)
            if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
                raise _Over(f".{name}", f"longer than {limit} bytes")
        elif kind is _MESSAGE:
            if message.HasField(name):
                value = getattr(message, name)
                if value.ByteSize() >= sub.floor:
                    _within(value, f".{name}")
        else:
            entries = getattr(message, name)
            if not entries:
                continue
            if limit is not None and len(entries) > limit:
                raise _Over(f".{name}", f"more than {limit} entries")
            if kind is _MAP:
                _check_map(entries, sub, name)
            elif kind is _TEXTS:
                for i, text in enumerate(entries):
                    if len(text) > sub or len(text.encode()) > sub:
                        raise _Over(f".{name}[{i}]", f"longer than {sub} bytes")
            elif kind is _OTHER:  # numbers and enums: the count is their bound
                continue
            elif len(sub) <= 2:  # a few strings (an identifier): cheaper to check than to size
                for i, item in enumerate(entries):
                    _within(item, f".{name}", i)
            elif sub.floor != math.inf:
                for i, item in enumerate(entries):
                    if item.ByteSize() >= sub.floor:
                        _within(item, f".{name}", i)


def _within(message: Message, step: str, index: int | None = None) -> None:
    try:
        _walk(message)
    except _Over as over:
        over.path.append(step if index is None else f"{step}[{index}]")
        raise


_TEXT, _TEXTS, _MESSAGE, _MESSAGES, _MAP, _OTHER = "text", "texts", "message", "messages", "map", "other"


class _Plan(tuple):
    """The checks of one message type, with `floor`: the fewest encoded bytes a message of this
    type needs to break one of its bounds (a string over its limit takes more bytes than the
    limit, a repeated field over its limit at least one byte an entry)."""

    floor: float


@cache
def _plan(desc: Descriptor) -> _Plan:
    steps: list[tuple[str, str, int | None, object]] = []
    floor = math.inf
    for fd in desc.fields:
        name, full = fd.name, fd.full_name
        bounded = full not in DOMAIN_BOUNDED
        text_limit = TEXT_BYTES.get(full, DEFAULT_TEXT_BYTES)
        if fd.is_repeated:
            limit = ENTRIES.get(full, DEFAULT_ENTRIES) if bounded else None
            if limit is not None:
                floor = min(floor, limit)
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                entry = fd.message_type
                limits = tuple(
                    TEXT_BYTES.get(f.full_name, DEFAULT_TEXT_BYTES) if f.type == FieldDescriptor.TYPE_STRING
                    else None
                    for f in (entry.fields_by_name["key"], entry.fields_by_name["value"])
                )  # fmt: skip
                floor = min(floor, *(x for x in limits if x is not None))
                steps.append((name, _MAP, limit, limits))
            elif fd.message_type is not None:
                sub = _plan(fd.message_type)
                floor = min(floor, sub.floor)
                if limit is not None or sub.floor != math.inf:  # else nothing to check (identifiers)
                    steps.append((name, _MESSAGES, limit, sub))
            elif fd.type == FieldDescriptor.TYPE_STRING:
                floor = min(floor, text_limit)
                steps.append((name, _TEXTS, limit, text_limit))
            elif limit is not None:
                steps.append((name, _OTHER, limit, None))
        elif fd.message_type is not None:
            sub = _plan(fd.message_type)
            if sub.floor != math.inf:  # a timestamp has nothing to bound
                floor = min(floor, sub.floor)
                steps.append((name, _MESSAGE, None, sub))
        elif fd.type == FieldDescriptor.TYPE_STRING and bounded:
            floor = min(floor, text_limit)
            steps.append((name, _TEXT, text_limit, None))
    plan = _Plan(steps)
    plan.floor = floor
    return plan


def _check_map(entries: object, limits: tuple[int | None, int | None], name: str) -> None:
    key_limit, value_limit = limits
    for n, (k, v) in enumerate(entries.items()):  # type: ignore[attr-defined]
        if key_limit is not None and len(k.encode()) > key_limit:
            raise _Over(f".{name}[{n}].key", f"longer than {key_limit} bytes")
        if value_limit is not None and len(v.encode()) > value_limit:
            raise _Over(f".{name}[{n}].value", f"longer than {value_limit} bytes")


def check_amount(amount: int, field: str) -> None:
    if not 0 <= amount <= MAX_AMOUNT_MINOR:
        raise InvalidArgument(field, f"must be 0 to {MAX_AMOUNT_MINOR}")


def check_quantity(quantity: int, field: str) -> None:
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidArgument(field, f"must be 0 to {MAX_QUANTITY}")
