"""The identity side of Ingest and of every identity read: validates and normalizes channel
events, gathers their link evidence from the channel's resolver (`prepare`) and has the engine
decide a batch over a snapshot of the graph (`plan`). The Ingest use case (usecases/ingest.py)
runs the plan inside the graph's transaction, with the profile folds and the outbox entry.

A batch is all-or-nothing at validation: one invalid event rejects the whole batch before any of
it is applied, so a caller fixes and re-sends the batch (already-accepted events are no-ops).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.trace import Span

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.observability import (
    events_ingested,
    events_suppressed,
    identifiers_shared,
    links_refused,
    person_size,
    persons_merged,
)
from identity.batch_state import edge_key
from identity.bounded_cache import BoundedCache
from identity.engine import StitchingEngine
from identity.identifiers import EvidenceClass, IdentifierType, IgnoredIdentifier, NormalizedIdentifier
from identity.model import (
    ChangeSet,
    ChannelEvent,
    Evidence,
    Snapshot,
    StitchResult,
)
from identity.normalize import Learned, Normalizer
from identity.ports import ChannelResolver, IdentityGraph
from identity.reader import IdentityReader
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


def _report(s: Span, batch: PreparedBatch, results: Sequence[StitchResult], merges: int) -> None:
    """Counts for the batch's span and the ingest metrics: outcomes by channel, refusals by rule."""
    outcomes: Counter[str] = Counter()
    by_channel: Counter[tuple[str, str]] = Counter()
    refusals: Counter[tuple[str, str]] = Counter()
    for ev, r in zip(batch.events, results, strict=True):
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
    if merges:
        persons_merged.add(merges)
    if outcomes["suppressed"]:
        events_suppressed.add(outcomes["suppressed"])
    for outcome, n in outcomes.items():
        s.set_attribute(f"idstitch.events.{outcome}", n)
    s.set_attribute("idstitch.persons.merged", merges)
    s.set_attribute("idstitch.links.refused", sum(len(r.refused) for r in results))


def _suppressed_result(ev: ChannelEvent) -> StitchResult:
    return StitchResult(ev.event_id, None, "suppressed", ignored=ev.ignored)


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A batch validated and normalized, with its link evidence: what the graph must lock and read
    for it (`keys`, `pairs`, `event_ids`). Nothing is written yet."""

    events: list[ChannelEvent]
    """In request order."""
    evidence: list[tuple[ChannelEvent, Evidence]]
    keys: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    event_ids: frozenset[str]
    learned: Learned


@dataclass(frozen=True, slots=True)
class Plan:
    """What the engine decided for a batch over a snapshot of the graph: the change set to apply
    and what it means for the batch's events."""

    changes: ChangeSet
    stitched: list[ChannelEvent]
    """The batch's events that were stitched, in request order (the suppressed ones left out)."""
    results: list[StitchResult]
    """One per stitched event."""
    merges: dict[str, str]
    """Each merged-away person with its final survivor."""
    splits: frozenset[str]
    """Persons an identifier was withdrawn from (weak evidence contradicted): refold them."""
    changed: frozenset[str]
    """Every person whose answers the batch can change (ChangeSet.persons_changed)."""
    suppressed: frozenset[str]
    """Ids of events an erasure suppresses."""
    sizes: list[int]
    """Identifiers of each person the batch touched, as the snapshot held them."""


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
        self.normalizer = normalizer
        self._engine = engine
        self._resolvers = resolvers
        self._suppression_hashes: BoundedCache[str, str] = BoundedCache(SUPPRESSION_CACHE_BYTES)
        self.reads = IdentityReader(
            graph=graph, normalizer=normalizer, corroborating=engine.corroborating_events
        )
        """Identity reads over the stores (never the read cache's memory)."""

    def suppression_hash(self, key: str) -> str:
        """The keyed hash a suppression record holds: of the stored key, in a domain of its own,
        so it matches no stored key or hash."""
        found = self._suppression_hashes.get(key)
        if found is None:
            found = self.normalizer.keyed_hash("suppressed", key)
            self._suppression_hashes.put(key, found, len(key) + len(found))
        return found

    def event_suppression_hash(self, event_id: str) -> str:
        """The keyed hash that suppresses an erased person's event by its id, whatever identifiers
        a replay of it carries (one that had become shared, say, and so was not suppressed)."""
        return self.normalizer.keyed_hash("suppressed-event", event_id)

    @property
    def corroborating(self) -> int:
        """How many events corroborate a held-back link."""
        return self._engine.corroborating_events

    @property
    def types(self) -> Mapping[str, IdentifierType]:
        return self.normalizer.types

    def key_of(self, type_name: str, value: str, *, field: str = "identifier") -> NormalizedIdentifier | str:
        """The stored key of an identifier, or why it can never resolve (junk, invalid)."""
        return self.reads.key_of(type_name, value, field=field)

    def link_evidence(
        self, channel: str, event_type: str, types: set[str]
    ) -> tuple[EvidenceClass, str] | None:
        """The class and rule a channel's resolver gives the links of an event of this type with
        these identifier types (None: the event proves no link)."""
        return self._resolvers[channel].graded(event_type, types)

    # -- ingest ------------------------------------------------------------------------------

    def prepare(self, events: Sequence[RawEvent], *, field: str = "events") -> PreparedBatch:
        """Validates and normalizes a batch and gathers its link evidence. One invalid event
        rejects the whole batch (INVALID_ARGUMENT naming it) before anything is written."""
        if len(events) > MAX_BATCH:
            raise InvalidArgument(field, f"{len(events)} events in one batch; at most {MAX_BATCH}")
        learned: Learned = {}
        in_order = [self._prepare(f"{field}[{i}]", ev, learned) for i, ev in enumerate(events)]
        evidence = [(ev, self._resolvers[ev.channel].evidence(ev)) for ev in in_order]
        return PreparedBatch(
            events=in_order,
            evidence=evidence,
            keys=frozenset(ident.key for ev in in_order for ident in ev.identifiers),
            pairs=frozenset(
                edge_key(ev.identifiers[link.a].key, ev.identifiers[link.b].key)
                for ev, found in evidence
                for link in found.links
            ),
            event_ids=frozenset(ev.event_id for ev in in_order),
            learned=learned,
        )

    def plan(self, snap: Snapshot, batch: PreparedBatch) -> Plan:
        """The engine's decisions for the batch over the graph's snapshot. Runs inside the
        graph's transaction, so suppressions are read after its locks: an erasure (through any
        server) that committed before this batch took the locks of its identifiers is seen, and
        one that had not yet begins after this batch, so it erases what this batch adds. Either
        way no erased person comes back."""
        suppressed = frozenset(self._suppressed(batch.events))
        kept = [(ev, evidence) for ev, evidence in batch.evidence if ev.event_id not in suppressed]
        changes, results = self._engine.stitch(snap, kept)
        touched = {r.person_id for r in results if r.person_id}
        return Plan(
            changes=changes,
            stitched=[ev for ev, _ in kept],
            results=results,
            merges=changes.final_merges(),
            splits=frozenset(changes.splits),
            changed=frozenset(changes.persons_changed(snap)),
            suppressed=suppressed,
            sizes=[sum(p.counts.values()) for pid, p in snap.persons.items() if pid in touched],
        )

    def committed(self, batch: PreparedBatch, plan: Plan, s: Span) -> list[StitchResult]:
        """After the batch's graph commit: its identifiers are remembered as accepted, its
        metrics recorded (and counted on the batch's span `s`), and the result of every event of
        the request, in request order."""
        self.normalizer.remember(batch.learned)  # accepted: its identifiers may recur
        for size in plan.sizes:
            person_size.record(size, NO_ATTRIBUTES)
        results = plan.results
        if plan.suppressed:
            done = iter(results)
            results = [
                _suppressed_result(ev) if ev.event_id in plan.suppressed else next(done)
                for ev in batch.events
            ]
        _report(s, batch, results, len(plan.merges))
        return results

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
            outcome = self.reads.key_of(type_name, value, field=f"{field}.identifiers[{j}]", learned=learned)
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

    def detach_target(
        self, type_name: str, value: str, *, to_new_person: bool, now: int
    ) -> tuple[str, str | None]:
        """What an admin's detach of this identifier takes away: its stored key, and the id of
        the new person it becomes (None: it is to be marked shared instead)."""
        key = self.reads.stored_key(type_name, value)
        return key, self._engine.person_id(f"detach\x00{now}", key) if to_new_person else None

    def not_detached(self, key: str) -> NotFound | FailedPrecondition:
        """Why the graph detached nothing for this key."""
        if self.graph.resolve(key) is None:
            return NotFound("identifier not known")
        return FailedPrecondition(
            "identifier", "already shared, or its person's only identifier: nothing to detach it from"
        )
