"""Identifier types and the normalized identifier that everything downstream works with.

A *key* is how an identifier is stored and compared: `type:value` for non-personal types and
`type#<HMAC-SHA256 hex>` for personal ones, so raw emails and phone numbers never reach a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict

Normalizer = Literal["plain", "lower", "email", "phone"]


class Strength(IntEnum):
    """Whether a link applies as proof (STRONG) or as a claim the engine weighs (WEAK). Ordered,
    so the strongest of several is `max`."""

    WEAK = 1
    STRONG = 2


class EvidenceClass(IntEnum):
    """What an event proves about a pair of its identifiers; each class has its own policy in the
    engine (docs/stitching.md, "Evidence classes").

    The values are what stores keep in an edge's `strength`: 1 and 2 are what older stores wrote
    for weak and strong links, so those read as the classes they were (a weak link was treated as
    a click). Values are not ranks: compare with `rank`."""

    CLICK_THROUGH = 1
    """A link clicked in an email or SMS: it lands on whatever browser opened it, perhaps a
    friend's. A fresh browser is attached at once; one with history waits for corroboration."""
    AUTHENTICATED = 2
    """A login, a loyalty swipe, a verified call: proof."""
    SAME_DEVICE = 3
    """Identifiers of one device reported together (an app's device id and its web-view cookie):
    proof that they are one device, applied at once; shared devices and junk rules still apply."""
    DECLARED = 4
    """An address the shopper typed to be reached or to buy (checkout, sign-up, a phone given at
    the till): applied at once onto an anonymous side, withdrawn if evidence contradicts it."""

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def strength(self) -> Strength:
        applied = self in (EvidenceClass.AUTHENTICATED, EvidenceClass.SAME_DEVICE)
        return Strength.STRONG if applied else Strength.WEAK

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def weakest(cls, a: EvidenceClass, b: EvidenceClass) -> EvidenceClass:
        return a if a.rank <= b.rank else b

    @classmethod
    def strongest(cls, a: EvidenceClass, b: EvidenceClass) -> EvidenceClass:
        return a if a.rank >= b.rank else b


_RANK = {
    EvidenceClass.CLICK_THROUGH: 1,
    EvidenceClass.DECLARED: 2,
    EvidenceClass.SAME_DEVICE: 3,
    EvidenceClass.AUTHENTICATED: 4,
}
WEAK_CLASSES = tuple(int(c) for c in EvidenceClass if c.strength is Strength.WEAK)
"""The stored values of links the engine weighs rather than applies (stores select unapplied
links by them)."""


class IdentifierType(BaseModel):
    """How one identifier type is normalized, stored and stitched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    normalizer: Normalizer = "plain"
    """plain: trimmed; lower: trimmed and lower-cased; email; phone (E.164)."""
    personal: bool = False
    """Stored only as a keyed hash; the raw value never reaches a store, log or response."""
    priority: int = 0
    """Higher wins: the highest-priority identifier of an event names the event's person."""
    cap: int | None = None
    """At most this many of this type per person (1 makes the type unique, like a login)."""
    shareable: bool = False
    """A device-like type that can become shared when two anchored persons use it."""
    anchor: bool = False
    """Holding one makes a person *anchored*: weak links never merge two anchored persons."""


BUILTIN_TYPES: dict[str, IdentifierType] = {
    "customer_id": IdentifierType(priority=70, cap=1, anchor=True),
    "loyalty_number": IdentifierType(priority=60, cap=1, anchor=True),
    "email": IdentifierType(normalizer="email", personal=True, priority=50),
    "phone": IdentifierType(normalizer="phone", personal=True, priority=40),
    "card_token": IdentifierType(priority=30, shareable=True),
    "device_id": IdentifierType(normalizer="lower", priority=20, shareable=True),
    "cookie": IdentifierType(priority=10, cap=50, shareable=True),
}


def display_of(key: str) -> str:
    """The display-safe form of a stored key: the value itself for non-personal types, a short
    tag of the keyed hash (`#1a2b3c4d5e6f`) for personal ones."""
    _type, sep, rest = _split(key)
    return "#" + rest[:12] if sep == "#" else rest


def is_hashed(key: str) -> bool:
    """Whether the key holds a keyed hash (a personal type) rather than the value itself."""
    return _split(key)[1] == "#"


def type_of(key: str) -> str:
    return _split(key)[0]


def _split(key: str) -> tuple[str, str, str]:
    colon, hash_ = key.find(":"), key.find("#")
    at = hash_ if hash_ != -1 and (colon == -1 or hash_ < colon) else colon
    return key[:at], key[at], key[at + 1 :]


class NormalizedIdentifier(msgspec.Struct, frozen=True, gc=False):
    """An identifier after normalization: `key` is its stored form.

    The normalizer caches up to 262,144 of these; as objects the garbage collector tracked, every
    full collection walked them all. Two strings cannot form a cycle, so the collector skips them."""

    type: str
    key: str

    @property
    def display(self) -> str:
        return display_of(self.key)


@dataclass(frozen=True, slots=True)
class IgnoredIdentifier:
    """An identifier that takes no part in stitching, and why (junk, blocklisted, invalid)."""

    index: int
    type: str
    reason: str


def node_id(key: str) -> str:
    """The id a graph node is shown under: the type with the display-safe value."""
    type_name, sep, rest = _split(key)
    return f"{type_name}#{rest[:12]}" if sep == "#" else key
