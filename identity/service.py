"""The identity service: validates and normalizes channel events, gathers their link evidence
from the channel's resolver, and has the engine stitch them inside one store transaction.

A batch is all-or-nothing at validation: one invalid event rejects the whole batch before any of
it is applied, so a caller fixes and re-sends the batch (already-accepted events are no-ops).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.observability import (
    events_ingested,
    events_suppressed,
    identifiers_shared,
    links_refused,
    person_size,
    persons_merged,
    span,
)
from identity import explain
from identity.batch_state import edge_key
from identity.bounded_cache import BoundedCache
from identity.engine import StitchingEngine
from identity.identifiers import EvidenceClass, IdentifierType, IgnoredIdentifier, NormalizedIdentifier
from identity.model import (
    ChangeSet,
    ChannelEvent,
    OutboxEntry,
    PersonGraph,
    SharedResolution,
    Snapshot,
    StitchResult,
)
from identity.normalize import MAX_VALUE_BYTES, Learned, Normalizer
from identity.ports import ChannelResolver, IdentityGraph
from privacy.records import PrivacyRecords

MAX_BATCH = 1000
MAX_IDENTIFIERS = 20
MAX_EVENT_ID_BYTES = 256
SUPPRESSION_CACHE_BYTES = 8 * 1024 * 1024
RESERVED_EVENT_ID_PREFIX = "idstitch:"
"""Ids of events idstitch makes itself (trait updates) start with this; channels' ids may not."""


@dataclass(frozen=True, slots=True)
class RawEvent:
    """An event as a channel sent it, before validation: what stitching needs of it."""

    event_id: str
    occurred_at: int
    channel: str
    type: str
    identifiers: Sequence[tuple[str, str]]
    device_type: str = ""


MIN_TIME = -(2**63)
NO_ATTRIBUTES: dict[str, str] = {}


def _report(s: Span, stitched: Stitched) -> None:
    """Counts for the batch's span and the ingest metrics: outcomes by channel, refusals by rule."""
    outcomes: Counter[str] = Counter()
    by_channel: Counter[tuple[str, str]] = Counter()
    refusals: Counter[tuple[str, str]] = Counter()
    for ev, r in zip(stitched.events, stitched.results, strict=True):
        outcomes[r.outcome] += 1
        by_channel[(ev.channel, r.outcome)] += 1
        for refused in r.refused:
            refusals[(refused.rule, refused.action)] += 1
    for (channel, outcome), n in by_channel.items():
        events_ingested.add(n, {"idstitch.channel": channel, "idstitch.outcome": outcome})
    for (rule, action), n in refusals.items():
        links_refused.add(n, {"idstitch.rule": rule, "idstitch.action": action})
        if action == "marked_shared":
            identifiers_shared.add(n)
    merged = len(stitched.merges)
    if merged:
        persons_merged.add(merged)
    if outcomes["suppressed"]:
        events_suppressed.add(outcomes["suppressed"])
    for outcome, n in outcomes.items():
        s.set_attribute(f"idstitch.events.{outcome}", n)
    s.set_attribute("idstitch.persons.merged", merged)
    s.set_attribute("idstitch.links.refused", sum(len(r.refused) for r in stitched.results))


def _suppressed_result(ev: ChannelEvent) -> StitchResult:
    return StitchResult(ev.event_id, None, "suppressed", ignored=ev.ignored)


BeforeCommit = Callable[[list[ChannelEvent], list[StitchResult], dict[str, str]], Any]
"""Called inside a batch's graph transaction, before it writes: (the events stitched, in request
order without the suppressed ones; their results; the batch's merges, loser to survivor)."""
Outbox = Callable[[list[StitchResult], dict[str, str], frozenset[str], frozenset[str]], OutboxEntry | None]
"""Called inside a batch's graph transaction, after the plan: (results, merges, persons an
identifier was withdrawn from, every person whose answers the batch can change —
ChangeSet.persons_changed) → what is left to do after the commit, written with the batch
(identity.model.OutboxEntry), or None."""


@dataclass(frozen=True, slots=True)
class Stitched:
    """A batch after stitching: per-event results, the events as validated (in request order), and
    the batch's merges (each merged-away person with its final survivor)."""

    results: list[StitchResult]
    events: list[ChannelEvent]
    merges: dict[str, str]
    splits: frozenset[str] = frozenset()
    """Persons an identifier was withdrawn from (weak evidence contradicted): refold them."""
    prepared: Any = None
    """What the caller's `before_commit` returned."""
    outbox_id: str | None = None
    """The id of the outbox entry written with the batch (stitch's `outbox`), if one was."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an identifier resolves to: a person's graph, or the persons sharing it."""

    person: PersonGraph | None
    shared: SharedResolution | None


class IdentityService:
    def __init__(
        self,
        *,
        graph: IdentityGraph,
        normalizer: Normalizer,
        engine: StitchingEngine,
        resolvers: Mapping[str, ChannelResolver],
        privacy: PrivacyRecords | None = None,
    ) -> None:
        self.graph = graph
        self.privacy = privacy
        self._normalizer = normalizer
        self._engine = engine
        self._resolvers = resolvers
        self._suppression_hashes: BoundedCache[str, str] = BoundedCache(SUPPRESSION_CACHE_BYTES)

    def suppression_hash(self, key: str) -> str:
        """The keyed hash a suppression record holds: of the stored key, in a domain of its own,
        so it matches no stored key or hash."""
        found = self._suppression_hashes.get(key)
        if found is None:
            found = self._normalizer.keyed_hash("suppressed", key)
            self._suppression_hashes.put(key, found, len(key) + len(found))
        return found

    def event_suppression_hash(self, event_id: str) -> str:
        """The keyed hash that suppresses an erased person's event by its id, whatever identifiers
        a replay of it carries (one that had become shared, say, and so was not suppressed)."""
        return self._normalizer.keyed_hash("suppressed-event", event_id)

    @property
    def types(self) -> Mapping[str, IdentifierType]:
        return self._normalizer.types

    def link_evidence(
        self, channel: str, event_type: str, types: set[str]
    ) -> tuple[EvidenceClass, str] | None:
        """The class and rule a channel's resolver gives the links of an event of this type with
        these identifier types (None: the event proves no link)."""
        return self._resolvers[channel].graded(event_type, types)

    # -- ingest ------------------------------------------------------------------------------

    def ingest(self, events: Sequence[RawEvent], *, field: str = "events") -> list[StitchResult]:
        return self.stitch(events, field=field).results

    def stitch(
        self,
        events: Sequence[RawEvent],
        *,
        field: str = "events",
        before_commit: BeforeCommit | None = None,
        outbox: Outbox | None = None,
    ) -> Stitched:
        """Stitches the batch in one graph transaction. `before_commit(events, results, merges)`
        runs inside it, after the plan and before anything is written: if it raises, the graph
        is left as it was. What it returns is `Stitched.prepared`. What `outbox` returns is
        written in the same transaction (`Stitched.outbox_id`)."""
        with span("idstitch.stitch", attributes={"idstitch.batch.size": len(events)}) as s:
            stitched = self._stitch(events, field, before_commit, outbox)
            _report(s, stitched)
            return stitched

    def _stitch(
        self,
        events: Sequence[RawEvent],
        field: str,
        before_commit: BeforeCommit | None,
        outbox: Outbox | None,
    ) -> Stitched:
        if len(events) > MAX_BATCH:
            raise InvalidArgument(field, f"{len(events)} events in one batch; at most {MAX_BATCH}")
        learned: Learned = {}
        events_in_order = [self._prepare(f"{field}[{i}]", ev, learned) for i, ev in enumerate(events)]
        everything = [(ev, self._resolvers[ev.channel].evidence(ev)) for ev in events_in_order]
        keys = {ident.key for ev, _ in everything for ident in ev.identifiers}
        pairs = {
            edge_key(ev.identifiers[link.a].key, ev.identifiers[link.b].key)
            for ev, evidence in everything
            for link in evidence.links
        }
        event_ids = {ev.event_id for ev, _ in everything}

        def plan(
            snap: Snapshot,
        ) -> tuple[ChangeSet, tuple[list[StitchResult], dict[str, str], list[int], Any, set[str]]]:
            # Suppressions are read here, inside the graph's transaction and after its locks: an
            # erasure (through any server) that committed before this batch took the locks of its
            # identifiers is seen, and one that had not yet begins after this batch, so it erases
            # what this batch adds. Either way no erased person comes back.
            suppressed = self._suppressed(events_in_order)
            batch = [(ev, evidence) for ev, evidence in everything if ev.event_id not in suppressed]
            changes, results = self._engine.stitch(snap, batch)
            touched = {r.person_id for r in results if r.person_id}
            sizes = [sum(p.counts.values()) for pid, p in snap.persons.items() if pid in touched]
            merges = changes.final_merges()
            prepared = before_commit([ev for ev, _ in batch], results, merges) if before_commit else None
            splits = frozenset(changes.splits)
            changed = frozenset(changes.persons_changed(snap)) if outbox else frozenset()
            changes.outbox = outbox(results, merges, splits, changed) if outbox else None
            entry = changes.outbox.id if changes.outbox else None
            return changes, (results, merges, sizes, (splits, prepared, entry), suppressed)

        stitched, merges, sizes, (splits, prepared, entry), suppressed = self.graph.stitch(
            keys=keys, pairs=pairs, event_ids=event_ids, plan=plan
        )
        self._normalizer.remember(learned)  # accepted: its identifiers may recur
        for size in sizes:
            person_size.record(size, NO_ATTRIBUTES)
        if suppressed:
            done = iter(stitched)
            stitched = [
                _suppressed_result(ev) if ev.event_id in suppressed else next(done) for ev in events_in_order
            ]
        return Stitched(stitched, events_in_order, merges, splits, prepared, entry)

    def _suppressed(self, events: Sequence[ChannelEvent]) -> set[str]:
        """Ids of the events that occurred before the erasure of one of their identifiers."""
        if self.privacy is None or not self.privacy.has_suppressions():
            return set()
        hashes = {
            ev.event_id: [self.event_suppression_hash(ev.event_id)]
            + [self.suppression_hash(i.key) for i in ev.identifiers]
            for ev in events
        }
        erased = self.privacy.suppressed({h for hs in hashes.values() for h in hs})
        if not erased:
            return set()
        return {
            ev.event_id
            for ev in events
            if any(ev.occurred_at < erased.get(h, MIN_TIME) for h in hashes[ev.event_id])
        }

    def _prepare(self, field: str, ev: RawEvent, learned: Learned) -> ChannelEvent:
        if not ev.event_id.strip():
            raise InvalidArgument(f"{field}.event_id", "required")
        if ev.event_id.startswith(RESERVED_EVENT_ID_PREFIX):
            raise InvalidArgument(f"{field}.event_id", f"the prefix {RESERVED_EVENT_ID_PREFIX!r} is reserved")
        if len(ev.event_id.encode()) > MAX_EVENT_ID_BYTES:
            raise InvalidArgument(f"{field}.event_id", f"longer than {MAX_EVENT_ID_BYTES} bytes")
        if ev.channel not in self._resolvers:
            known = ", ".join(sorted(self._resolvers))
            raise InvalidArgument(f"{field}.channel", f"not a configured channel (known: {known})")
        if not ev.type.strip():
            raise InvalidArgument(f"{field}.type", "required")
        if not 1 <= len(ev.identifiers) <= MAX_IDENTIFIERS:
            raise InvalidArgument(
                f"{field}.identifiers", f"{len(ev.identifiers)} given; 1 to {MAX_IDENTIFIERS} allowed"
            )
        normalized: list[NormalizedIdentifier] = []
        positions: list[int] = []
        ignored: list[IgnoredIdentifier] = []
        seen: set[str] = set()
        for j, (type_name, value) in enumerate(ev.identifiers):
            outcome = self._normalize(f"{field}.identifiers[{j}]", type_name, value, learned)
            if isinstance(outcome, str):
                ignored.append(IgnoredIdentifier(j, type_name, outcome))
            elif outcome.key in seen:
                ignored.append(IgnoredIdentifier(j, type_name, "duplicate_in_event"))
            else:
                seen.add(outcome.key)
                normalized.append(outcome)
                positions.append(j)
        return ChannelEvent(
            event_id=ev.event_id,
            occurred_at=ev.occurred_at,
            channel=ev.channel,
            type=ev.type,
            identifiers=tuple(normalized),
            ignored=tuple(ignored),
            device_type=ev.device_type,
            positions=tuple(positions),
        )

    def _normalize(
        self, field: str, type_name: str, value: str, learned: Learned | None = None
    ) -> NormalizedIdentifier | str:
        if type_name not in self._normalizer.types:
            known = ", ".join(sorted(self._normalizer.types))
            raise InvalidArgument(f"{field}.type", f"not a configured identifier type (known: {known})")
        if len(value.encode()) > MAX_VALUE_BYTES:
            raise InvalidArgument(f"{field}.value", f"longer than {MAX_VALUE_BYTES} bytes")
        return self._normalizer.normalize(type_name, value, learned)

    # -- reads -------------------------------------------------------------------------------

    def key_of(self, type_name: str, value: str, *, field: str = "identifier") -> NormalizedIdentifier | str:
        """The stored key of an identifier, or why it can never resolve (junk, invalid)."""
        return self._normalize(field, type_name, value)

    def resolve(self, type_name: str, value: str, *, field: str = "identifier") -> Resolution:
        ident = self.key_of(type_name, value, field=field)
        if isinstance(ident, str):
            raise InvalidArgument(f"{field}.value", f"{ident}: such a value never resolves")
        return self.resolve_key(ident.key)

    def resolve_key(self, key: str) -> Resolution:
        found = self.graph.resolve_person(key)
        if found is None:
            raise NotFound("identifier not known")
        if isinstance(found, SharedResolution):
            return Resolution(None, found)
        return Resolution(found, None)

    def resolve_keys(self, keys: Collection[str]) -> dict[str, Resolution]:
        """`resolve_key` of many keys in a bounded number of graph round trips; unknown keys are
        left out."""
        return {
            k: Resolution(None, found) if isinstance(found, SharedResolution) else Resolution(found, None)
            for k, found in self.graph.resolve_people(keys).items()
        }

    def person_of(self, type_name: str, value: str, *, field: str = "identifier") -> str:
        """The live person an identifier names. INVALID_ARGUMENT for a value that never resolves or
        an identifier shared by several persons; NOT_FOUND when unknown."""
        ident = self.key_of(type_name, value, field=field)
        if isinstance(ident, str):
            raise InvalidArgument(f"{field}.value", f"{ident}: such a value never resolves")
        found = self.graph.resolve(ident.key)
        if found is None:
            raise NotFound("identifier not known")
        if isinstance(found, SharedResolution):
            raise InvalidArgument(field, "shared identifier names no single person; ask by person_id")
        return found

    def live_person(self, person_id: str, *, field: str = "person_id") -> str:
        """The person an id names now (a merged-away id names its survivor)."""
        if not person_id.strip():
            raise InvalidArgument(field, "required")
        live = self.graph.live_person(person_id)
        if live is None:
            raise NotFound("person not known")
        return live

    def detach(
        self,
        type_name: str,
        value: str,
        *,
        to_new_person: bool,
        now: int,
        outbox: Callable[[str, str | None], OutboxEntry] | None = None,
    ) -> tuple[str, str | None]:
        """An admin's correction of a wrong stitch: the identifier leaves its person, into a new
        person of its own or (to_new_person=False) as a shared identifier that never links again.
        Returns (the person it left, the new person or None). `outbox(left, new)` is an entry
        written in the same transaction."""
        ident = self.key_of(type_name, value)
        if isinstance(ident, str):
            raise InvalidArgument("identifier.value", f"{ident}: such a value never resolves")
        new_id = self._engine.person_id(f"detach\x00{now}", ident.key) if to_new_person else None
        entry = None if outbox is None else (lambda left: outbox(left, new_id))
        left = self.graph.detach(ident.key, new_person_id=new_id, outbox=entry)
        if left is None:
            if self.graph.resolve(ident.key) is None:
                raise NotFound("identifier not known")
            raise FailedPrecondition(
                "identifier", "already shared, or its person's only identifier: nothing to detach it from"
            )
        return left, new_id

    def explain(self, a: tuple[str, str], b: tuple[str, str]) -> explain.Explanation:
        keys = []
        for field, (type_name, value) in (("a", a), ("b", b)):
            ident = self.key_of(type_name, value, field=field)
            if isinstance(ident, str):
                raise InvalidArgument(f"{field}.value", f"{ident}: such a value never resolves")
            keys.append(ident.key)
        found = [self.graph.resolve_person(k) for k in keys]
        if any(f is None for f in found):
            raise NotFound("identifier not known")
        return explain.between(found, keys, types=self.types, corroborating=self._engine.corroborating_events)

    def person(self, person_id: str) -> PersonGraph:
        graph = self.graph.person_graph(person_id)
        if graph is None:
            raise NotFound("person not known")
        return graph
