"""Plain data the stitching engine reads and writes. No storage, no protobuf."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from identity.identifiers import EvidenceClass, IgnoredIdentifier, NormalizedIdentifier, Strength


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """An event after validation and normalization. `identifiers` are de-duplicated and free of
    junk. What the event says beyond identifiers is the profile store's (profiles.events)."""

    event_id: str
    occurred_at: int  # microseconds since the Unix epoch
    channel: str
    type: str
    identifiers: tuple[NormalizedIdentifier, ...]
    ignored: tuple[IgnoredIdentifier, ...] = ()
    device_type: str = ""
    positions: tuple[int, ...] = ()
    """Index of each identifier in the request's identifier list (results refer to these)."""


@dataclass(frozen=True, slots=True)
class LinkEvidence:
    """A resolver's claim that identifiers `a` and `b` (indexes into the event's identifiers)
    belong to one person, how strongly, and by which rule."""

    a: int
    b: int
    proves: EvidenceClass
    rule: str

    @property
    def strength(self) -> Strength:
        return self.proves.strength


@dataclass(frozen=True, slots=True)
class Evidence:
    links: tuple[LinkEvidence, ...]
    declared_shared: frozenset[int] = frozenset()
    """Identifiers the channel knows to be shared from the start (kiosk, POS terminal)."""


@dataclass(slots=True)
class IdentifierState:
    key: str
    type: str
    person_id: str | None
    shared: bool
    first_seen: int
    last_seen: int
    weak_since: int | None = None
    """When weak evidence alone joined it to its person (the linking event's time); None once a
    strong link or corroboration confirms it. Such an identifier is withdrawn from its person when
    contradicted, or when a sighting from before that time shows it had history of its own."""
    weak_via: str | None = None
    """The identifier that weak link joined it to: the snapshot loads it too, so that a late
    sighting can tell whether the link still had one side first seen in it."""


@dataclass(slots=True)
class PersonState:
    id: str
    first_seen: int
    counts: Counter[str] = field(default_factory=Counter)
    new: bool = False


@dataclass(slots=True)
class EdgeState:
    a: str
    b: str
    first_seen: int
    last_seen: int
    channel: str
    rule: str
    proves: EvidenceClass
    """The strongest class of evidence any event showed for this link."""
    event_count: int

    @property
    def strength(self) -> Strength:
        return self.proves.strength


Outcome = Literal["created", "attached", "merged", "duplicate", "unattributed", "suppressed"]
"""What ingest did with one event (the API's EventResult outcome, the metrics' label)."""
RefusalAction = Literal[
    "pending", "kept_apart", "withdrawn", "marked_shared", "reassigned", "separate_person"
]
"""What became of a link the rules would not apply as evidenced (RefusedLink.action)."""


@dataclass(slots=True)
class Snapshot:
    """What a store loads for a batch: the batch's identifiers, their persons (with counts by type),
    the edges among them, and which of the batch's event ids were accepted before."""

    identifiers: dict[str, IdentifierState]
    persons: dict[str, PersonState]
    edges: dict[tuple[str, str], EdgeState]
    known_events: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class RefusedLink:
    from_index: int
    to_index: int
    rule: str
    action: RefusalAction


@dataclass(slots=True)
class StitchResult:
    event_id: str
    person_id: str | None
    outcome: Outcome
    refused: list[RefusedLink] = field(default_factory=list)
    ignored: tuple[IgnoredIdentifier, ...] = ()
    merged_person_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An accepted event as the graph keeps it: enough to know it again."""

    event_id: str
    person_id: str | None
    occurred_at: int


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """What a batch has to tell after its commits (the change feed's merges and orders), written
    in the batch's own graph transaction: a server that dies after the commit but before telling
    leaves it here, and a sweeper tells it (usecases/outbox_sweep.py). `body` is the teller's own format."""

    id: str
    at: int
    """When it was written, µs since the epoch."""
    body: bytes


@dataclass(slots=True)
class ChangeSet:
    """Everything one batch changes, applied by a store in one transaction, in this order:
    new persons, merges (loser → survivor, in order), identifier states, edges, shared uses, events."""

    new_persons: dict[str, int] = field(default_factory=dict)
    merges: list[tuple[str, str]] = field(default_factory=list)
    identifiers: dict[str, IdentifierState] = field(default_factory=dict)
    edges: dict[tuple[str, str], EdgeState] = field(default_factory=dict)
    shared_uses: set[tuple[str, str]] = field(default_factory=set)
    events: list[EventRecord] = field(default_factory=list)
    splits: set[str] = field(default_factory=set)
    """Persons an identifier was withdrawn from: their events are re-attributed after the commit."""
    outbox: OutboxEntry | None = None
    """Written with the rest, in the same transaction."""

    def persons_changed(self, snapshot: Snapshot) -> set[str]:
        """Every person whose answers this change set can change: those the snapshot held (an
        identifier of theirs in the batch), the new ones and both sides of each merge."""
        changed = set(snapshot.persons) | set(self.new_persons) | self.splits
        changed.update(p for merge in self.merges for p in merge)
        changed.update(i.person_id for i in snapshot.identifiers.values() if i.person_id is not None)
        changed.update(i.person_id for i in self.identifiers.values() if i.person_id is not None)
        return changed

    def final_merges(self) -> dict[str, str]:
        """Each merged-away person with its final survivor: chains inside the batch (a → b, then
        b → c) collapse, so a store applies every merge in one pass and aliases stay one hop."""
        final = dict(self.merges)
        for loser in final:
            while final[loser] in final:
                final[loser] = final[final[loser]]
        return final


@dataclass(frozen=True, slots=True)
class PersonNode:
    key: str
    type: str
    display: str
    shared: bool
    first_seen: int
    last_seen: int


@dataclass(frozen=True, slots=True)
class UnappliedLink:
    """A weak link from one of a person's identifiers (`key`) to an identifier of another person,
    not applied: pending corroboration, or kept apart because both persons hold a login. The other
    identifier is not named — it is someone else's — only its person."""

    key: str
    other_person_id: str
    edge: EdgeState


@dataclass(frozen=True, slots=True)
class PersonGraph:
    """A person as stored: its identifiers, the shared identifiers it used, edges among them, and
    the weak links to other persons that are not applied."""

    person_id: str
    aliases: tuple[str, ...]
    nodes: tuple[PersonNode, ...]
    edges: tuple[EdgeState, ...]
    unapplied: tuple[UnappliedLink, ...] = ()


@dataclass(frozen=True, slots=True)
class GraphErasure:
    """What erasing a person removed from the graph. `keys` are the person's own identifiers (for
    the suppression list); shared identifiers it used stay, without its links to them."""

    keys: tuple[str, ...]
    links: int
    aliases: int
    shared_uses: int
    events: int


@dataclass(frozen=True, slots=True)
class SharedResolution:
    key: str
    shared_by: tuple[str, ...]
