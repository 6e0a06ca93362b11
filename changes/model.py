"""A change to a person as the feed records it. Kind-specific detail is a small JSON object of
person ids, section and segment names, counts and store ids — never an identifier value, raw or
hashed (the feed is read by many systems; an identifier there would leak to all of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal, get_args

import msgspec

ChangeKind = Literal[
    "person_created", "persons_merged", "person_split", "person_erased", "profile_updated",
    "segment_entered", "segment_left", "cart_abandoned", "order_placed", "invalidated",
]  # fmt: skip
"""Every kind of change, and the shape of its detail:
person_created, person_erased, invalidated: none · persons_merged: merged_person_ids ·
person_split: new_person_ids · profile_updated: sections · segment_entered, segment_left: segment ·
cart_abandoned: last_cart_activity, items · order_placed: channel, store_id."""
PERSON_CREATED: Final = "person_created"
PERSONS_MERGED: Final = "persons_merged"
PERSON_SPLIT: Final = "person_split"
PERSON_ERASED: Final = "person_erased"
PROFILE_UPDATED: Final = "profile_updated"
SEGMENT_ENTERED: Final = "segment_entered"
SEGMENT_LEFT: Final = "segment_left"
CART_ABANDONED: Final = "cart_abandoned"
ORDER_PLACED: Final = "order_placed"
KINDS: tuple[ChangeKind, ...] = tuple(k for k in get_args(ChangeKind) if k != "invalidated")
"""The kinds watchers are streamed (the API's ChangeKind)."""
IDENTITY_KINDS = frozenset({PERSON_CREATED, PERSONS_MERGED, PERSON_SPLIT, PERSON_ERASED})
"""The kinds every person produces, whatever their consent."""
INVALIDATED: Final = "invalidated"
"""Internal, never streamed to watchers: a write changed what servers answer about a person (their
graph, or a profile consent keeps from the feed) and no other change of the same write names
them. Every server's read cache drops what it holds of a person any change names."""
INTERNAL_KINDS = frozenset({INVALIDATED})

Detail = dict[str, str | int | list[str]]


@dataclass(frozen=True, slots=True)
class Change:
    person_id: str
    kind: ChangeKind
    at: int
    """When it was recorded, µs since the epoch."""
    detail: Detail = field(default_factory=dict)
    store_id: str = ""
    cursor: str = ""
    """Assigned by the feed when recorded."""


def named_by(change: Change) -> list[str]:
    """The persons a change is about: its person, and the persons a merge or a split names."""
    d = change.detail
    out = [change.person_id]
    for field_name in ("merged_person_ids", "new_person_ids"):
        named = d.get(field_name)
        if isinstance(named, list):
            out += named
    return out


class Watched(msgspec.Struct, frozen=True, omit_defaults=True):
    """What the feed last told about a person: a digest per profile section, the segments it is
    in, whether its cart was told abandoned, its store. The next observation is compared with it.
    Written for every person a batch touches, so it is a msgspec struct (a dataclass's `asdict`
    cost more than the rest of it): packed by the embedded feed (`pack_told`), as JSON by the
    Cassandra feed (`encode_told` / `decode_told`)."""

    sections: dict[str, str] = {}
    segments: tuple[str, ...] = ()
    cart_abandoned: bool = False
    store_id: str = ""
    due: int = 0
    """The first moment (µs) at which time alone can change what is told (an open cart going
    quiet, a clock in a segment rule crossing its number); 0: never. The sweeper looks at the
    person again then."""


class Pending(msgspec.Struct, frozen=True):
    """What a batch has to tell after its commits: its edges (merges, orders), the persons to
    observe and the persons merged away. Written in the batch's graph transaction (an outbox
    entry), so that a server that dies before telling leaves it to be told by a sweeper."""

    edges: list[Change]
    persons: list[str]
    gone: list[str] = []
    exist: list[str] = []
    """Persons known to exist without a profile (a split's new part that holds no event yet)."""
    stale: list[str] = []
    """Every person whose answers the batch can change (identity.model.ChangeSet.persons_changed):
    each is named by some change, `invalidated` when by no other."""


encode_told = msgspec.json.Encoder().encode
decode_told = msgspec.json.Decoder(Watched).decode

TOLD_SECTIONS = ("context", "behavior", "history", "affinities", "traits", "consent")
"""The sections a packed told state holds a digest of, in order (changes.log.SECTIONS)."""
DIGEST_BYTES = 8


class _Packed(msgspec.Struct, array_like=True):
    """A msgpack array, so that no row repeats the field names."""

    digests: bytes
    """DIGEST_BYTES per section of TOLD_SECTIONS, in that order; empty when none was told."""
    segments: tuple[str, ...]
    cart_abandoned: bool
    store_id: str


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(_Packed).decode


def pack_told(told: Watched) -> bytes:
    """A told state as a store that keeps the due moment beside it writes it: the digests as
    bytes, in a msgpack array — 54 to 68 bytes where the JSON took 213 to 257. The state is
    written for every person a batch touches, into a table keyed by person: the smaller its rows,
    the fewer pages a batch dirties. Digests of another set of sections are written as JSON."""
    digests = b""
    if told.sections:
        if tuple(told.sections) != TOLD_SECTIONS:
            return encode_told(told)
        try:
            digests = b"".join(bytes.fromhex(told.sections[name]) for name in TOLD_SECTIONS)
        except ValueError:
            return encode_told(told)
        if len(digests) != DIGEST_BYTES * len(TOLD_SECTIONS):
            return encode_told(told)
    return _pack(_Packed(digests, told.segments, told.cart_abandoned, told.store_id))


def unpack_told(stored: bytes | str, due: int) -> Watched:
    """What `pack_told` wrote (or JSON, as feeds wrote before it), with the due moment kept beside it."""
    if isinstance(stored, str) or stored[:1] == b"{":
        told = decode_told(stored)
        return told if told.due == due else msgspec.structs.replace(told, due=due)
    p = _unpack(stored)
    sections = {}
    if p.digests:
        step = DIGEST_BYTES
        sections = {name: p.digests[i * step : (i + 1) * step].hex() for i, name in enumerate(TOLD_SECTIONS)}
    return Watched(sections, p.segments, p.cart_abandoned, p.store_id, due)


class CursorExpired(Exception):
    """The cursor is older than the retention window."""

    def __init__(self, oldest: str) -> None:
        super().__init__(oldest)
        self.oldest = oldest


class BadCursor(Exception):
    """Not a cursor this feed gave out."""
