"""The profile service: folds every accepted event into its person's profile right after stitching,
serves profiles by person or identifier, records traits, and refolds after a split.

Ingest stitches a batch in the identity graph, then appends the batch (its events and its merges)
to the profile store before answering, so the next GetProfile sees the batch (read-your-writes).
The batch's events are folded, per person, inside the graph's transaction before it writes, so an
event that cannot be folded leaves both stores untouched; the profile store merges those folds in.
The two stores commit one after the other; the profile store's append is idempotent by event id,
so a batch retried after a failure between the two commits completes its profiles.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from common.errors import InvalidArgument
from common.observability import span
from identity.identifiers import node_id, type_of
from identity.model import ChannelEvent, SharedResolution, StitchResult
from identity.service import MAX_EVENT_ID_BYTES, RESERVED_EVENT_ID_PREFIX, IdentityService, RawEvent
from profiles.events import TRAITS_EVENT, EventFacts, TraitValue
from profiles.fold import Folder
from profiles.gate import SplitGate
from profiles.ports import LoggedEvent, Prefold, ProfileStore
from profiles.rules import ProfileRules
from profiles.segments import compile_segments
from profiles.state import ProfileState, encode_state
from profiles.traits import check_trait
from profiles.view import ProfileReading, consent_of, read

log = logging.getLogger(__name__)
MAX_PROFILE_BATCH = 500
PERSONALIZATION = "personalization"
"""The consent purpose that covers reading a person's behavior for personalization."""
DEVICE_TYPES = ("device_id", "cookie")
"""Identifier types that name a device: the first of these on an event is where it happened."""


@dataclass(frozen=True, slots=True)
class ProfileKey:
    """A person id, or an identifier (type, value)."""

    person_id: str = ""
    identifier: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class FoundProfile:
    person_id: str
    state: ProfileState
    reading: ProfileReading
    restricted: bool = False
    """The person denied the personalization purpose: readers get no behavioral data."""


@dataclass(frozen=True, slots=True)
class Missing:
    reason: str  # unknown | shared | junk | blocklisted | invalid ...


@dataclass(frozen=True, slots=True)
class Detached:
    person_id: str
    new_person_id: str | None
    person_events: int
    new_person_events: int


@dataclass(frozen=True, slots=True)
class TraitInput:
    name: str
    kind: str | None
    """Which TraitValue field was set: text, integer, number, flag (None: none)."""
    value: object
    source: str
    updated_at: int | None


class ProfileService:
    def __init__(
        self,
        *,
        identity: IdentityService,
        store: ProfileStore,
        rules: ProfileRules,
        shared_device_types: Sequence[str],
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
        settle_seconds: float = 0.0,
    ) -> None:
        self.identity = identity
        self.store = store
        self.rules = rules
        self.folder = Folder(rules)
        self._segments = compile_segments(rules.segments)
        self._shared_device_types = frozenset(shared_device_types)
        self._clock = clock
        self.gate = SplitGate()
        self.settle_seconds = settle_seconds
        """With a profile store shared by several servers: how long after a split (or an erasure)
        to sweep again (see `after_settling`)."""

    # -- ingest ------------------------------------------------------------------------------

    def ingest(
        self, batch: Sequence[tuple[RawEvent, EventFacts]], *, field: str = "events"
    ) -> list[StitchResult]:
        facts_of: dict[str, EventFacts] = {}
        for raw, facts in batch:
            facts_of.setdefault(raw.event_id, facts)  # a repeated id: the first is the one recorded

        def fold_before_commit(
            events: list[ChannelEvent], results: list[StitchResult], merges: dict[str, str]
        ) -> tuple[list[LoggedEvent], dict[str, Prefold]]:
            """The batch's events folded into a profile per person, inside the graph's transaction
            and before it writes: an event that fails to fold fails the batch with both stores
            untouched. The profile store merges these in rather than folding the events again."""
            logged: list[LoggedEvent] = []
            by_person: dict[str, list[EventFacts]] = {}
            seen: set[str] = set()
            for ev, r in zip(events, results, strict=True):
                facts = self._complete(facts_of[ev.event_id], ev)
                logged.append(LoggedEvent(r.person_id, tuple(i.key for i in ev.identifiers), facts))
                if r.person_id is not None and r.outcome != "duplicate" and ev.event_id not in seen:
                    seen.add(ev.event_id)
                    by_person.setdefault(merges.get(r.person_id, r.person_id), []).append(facts)
            prefolds = {}
            with span("idstitch.profile.prefold", attributes={"idstitch.events": len(seen)}):
                for pid, person_facts in by_person.items():
                    # Newest first: decayed scores are held against the newest event, never rescaled.
                    person_facts.sort(key=lambda f: f.occurred_at, reverse=True)
                    state = self.folder.fold(ProfileState(), person_facts)
                    encode_state(state)  # what the store will write must encode
                    prefolds[pid] = Prefold(frozenset(f.event_id for f in person_facts), state)
            return logged, prefolds

        with self.gate.batch():
            stitched = self.identity.stitch(
                [raw for raw, _ in batch], field=field, before_commit=fold_before_commit
            )
            if stitched.prepared is not None:
                logged, prefolds = stitched.prepared
                with span("idstitch.profile.fold", attributes={"idstitch.events": len(logged)}) as s:
                    new = self.store.append(
                        events=logged, merges=stitched.merges, folding=self.folder, prefolded=prefolds
                    )
                    s.set_attribute("idstitch.events.new", len(new))
                    self._catch_up(stitched.results, new)
        if stitched.splits:
            # An identifier weak evidence had put in a person was withdrawn: that person's events
            # go to whoever holds their identifiers now. Like a detach, with batches held off.
            with self.gate.split():
                self.refold_after_split(sorted(stitched.splits))
        return stitched.results

    def _catch_up(self, results: Sequence[StitchResult], new: set[str]) -> None:
        """Completes a batch retried after a failure between the graph's commit and the profile
        store's: its events are duplicates to the graph but new to the profile store, and the
        merges that first attempt made are known only to the graph. Merging every alias the graph
        holds for those persons brings them over (merging a known alias again changes nothing)."""
        persons = {
            r.person_id for r in results if r.outcome == "duplicate" and r.event_id in new and r.person_id
        }
        merges = {}
        for pid in persons:
            graph = self.identity.graph.person_graph(pid)
            if graph is not None:
                merges.update(dict.fromkeys(graph.aliases, graph.person_id))
        if merges:
            self.store.append(events=[], merges=merges, folding=self.folder)

    def _complete(self, facts: EventFacts, ev: ChannelEvent) -> EventFacts:
        """Adds what only stitching knows: identifier types and the device, as a node id."""
        device = ""
        if ev.device_type not in self._shared_device_types:
            for t in DEVICE_TYPES:
                device = next((node_id(i.key) for i in ev.identifiers if i.type == t), "")
                if device:
                    break
        return msgspec.structs.replace(
            facts, identifier_types=tuple(sorted({i.type for i in ev.identifiers})), device=device
        )

    # -- reads -------------------------------------------------------------------------------

    def person_of(self, key: ProfileKey, *, field: str = "key") -> str:
        if key.identifier is not None:
            t, v = key.identifier
            return self.identity.person_of(t, v, field=f"{field}.identifier")
        return self.identity.live_person(key.person_id, field=f"{field}.person_id")

    def get(self, key: ProfileKey, *, field: str = "key") -> FoundProfile:
        pid = self.person_of(key, field=field)
        return self._found(pid, self.store.get(pid))

    def get_many(self, keys: Sequence[ProfileKey], *, field: str = "keys") -> list[FoundProfile | Missing]:
        if len(keys) > MAX_PROFILE_BATCH:
            raise InvalidArgument(field, f"{len(keys)} keys; at most {MAX_PROFILE_BATCH}")
        persons: list[str | Missing] = [
            self._person_or_missing(k, f"{field}[{i}]") for i, k in enumerate(keys)
        ]
        states = self.store.get_many({p for p in persons if isinstance(p, str)})
        return [p if isinstance(p, Missing) else self._found(p, states.get(p)) for p in persons]

    def _person_or_missing(self, key: ProfileKey, field: str) -> str | Missing:
        if key.identifier is not None:
            t, v = key.identifier
            ident = self.identity.key_of(t, v, field=f"{field}.identifier")
            if isinstance(ident, str):
                return Missing(ident)
            found = self.identity.graph.resolve(ident.key)
            if isinstance(found, SharedResolution):
                return Missing("shared")
            return found if found is not None else Missing("unknown")
        if not key.person_id.strip():
            raise InvalidArgument(f"{field}.person_id", "required")
        return self.identity.graph.live_person(key.person_id) or Missing("unknown")

    def _found(self, pid: str, state: ProfileState | None) -> FoundProfile:
        state = state if state is not None else ProfileState()
        restricted = any(c.purpose == PERSONALIZATION and not c.granted for c in consent_of(state))
        reading = read(state, folder=self.folder, segments=self._segments, now=self._clock())
        return FoundProfile(pid, state, reading, restricted)

    # -- traits ------------------------------------------------------------------------------

    def update_traits(
        self, key: ProfileKey, request_id: str, traits: Sequence[TraitInput]
    ) -> tuple[str, bool]:
        """Records the traits as an event of the person, so they merge and split with the person.
        Returns the person id and whether the request was new."""
        check_request_id(request_id)
        if not traits:
            raise InvalidArgument("traits", "at least one trait is required")
        now = self._clock()
        values: dict[str, TraitValue] = {}
        for i, t in enumerate(traits):
            field = f"traits[{i}]"
            value = check_trait(self.rules.traits, t.name, t.kind, t.value, field)
            if not t.source.strip():
                raise InvalidArgument(f"{field}.source", "required")
            if t.name in values:
                raise InvalidArgument(f"{field}.name", "the same trait is given twice")
            values[t.name] = TraitValue(value, t.source, t.updated_at if t.updated_at is not None else now)
        at = max(v.at for v in values.values())
        return self.record_request(
            key,
            TRAITS_EVENT,
            request_id,
            lambda eid, _: EventFacts(eid, at, "api", TRAITS_EVENT, traits=values),
        )

    def record_request(
        self,
        key: ProfileKey,
        kind: str,
        request_id: str,
        make: Callable[[str, str], EventFacts],
        *,
        field: str = "key",
    ) -> tuple[str, bool]:
        """Records an API request (traits, consent) as an event of the person `key` names, so it
        merges and splits with the person; idempotent by request id. `make(event_id, subject)` builds
        the facts, `subject` being the node id of the identifier it came through ("" for a person id).
        Returns the person id and whether the request was new."""
        check_request_id(request_id)
        pid = self.person_of(key, field=field)
        keys: tuple[str, ...] = ()
        subject = ""
        if key.identifier is not None:
            ident = self.identity.key_of(*key.identifier, field=f"{field}.identifier")
            if not isinstance(ident, str):
                keys, subject = (ident.key,), node_id(ident.key)
        facts = make(f"{RESERVED_EVENT_ID_PREFIX}{kind}:{request_id}", subject)
        new = self.store.append(events=[LoggedEvent(pid, keys, facts)], merges={}, folding=self.folder)
        return pid, bool(new)

    # -- splits ------------------------------------------------------------------------------

    def detach(self, type_name: str, value: str, *, to_new_person: bool, caller: str = "") -> Detached:
        """Detaches an identifier from its person (IdentityService.detach) and refolds both parts,
        so the detached part's events leave the person's profile. An admin change: audited."""
        with self.gate.split():
            left, new = self.identity.detach(type_name, value, to_new_person=to_new_person, now=self._clock())
            parts = [left] if new is None else [left, new]
            counts = self.refold_after_split(parts)
        self.after_settling("split", lambda: self.refold_after_split(parts))
        done = Detached(left, new, counts.get(left, 0), counts.get(new, 0) if new else 0)
        if self.identity.privacy is not None:
            detail = {"mode": "new_person" if new else "shared", "person_events": done.person_events,
                      "new_person_events": done.new_person_events}  # fmt: skip
            self.identity.privacy.audit(self._clock(), caller, "detach_identifier", detail)
        return done

    def after_settling(self, what: str, sweep: Callable[[], object]) -> None:
        """Runs `sweep` again once batches in flight on other servers have landed. The gate keeps
        this server's batches out of a split, but another server may have stitched a batch before
        the split and append it to the profile store after the split moved the events: that batch
        lands in the old person. Splits and erasures are idempotent, so running them again once
        `settle_seconds` have passed (longer than a batch takes) moves such stragglers too. A server
        that stops within that time skips the sweep; the split or erasure itself is complete."""
        if self.settle_seconds <= 0:
            return

        def run() -> None:
            try:
                with self.gate.split():
                    sweep()
            except Exception as e:
                log.warning("the settle sweep after a %s failed: %s", what, e.__class__.__name__)

        timer = threading.Timer(self.settle_seconds, run)
        timer.daemon = True
        timer.start()

    def refold_after_split(self, person_ids: Sequence[str]) -> dict[str, int]:
        """Gives each event of these persons to its owner (owner_rule) and refolds every person
        involved."""
        return self.store.reattribute(person_ids=person_ids, owner=self.owner_rule(), folding=self.folder)

    def owner_rule(self) -> Callable[[LoggedEvent], str | None]:
        """Who an event belongs to now: the person holding its highest-priority identifier (the
        rule that picked its person at ingest), else the person it has."""
        types = self.identity.types
        cache: dict[str, str | None] = {}

        def holder(key: str) -> str | None:
            if key not in cache:
                found = self.identity.graph.resolve(key)
                cache[key] = found if isinstance(found, str) else None
            return cache[key]

        def owner(e: LoggedEvent) -> str | None:
            ranked = sorted(e.keys, key=lambda k: -types[t].priority if (t := type_of(k)) in types else 0)
            for k in ranked:
                pid = holder(k)
                if pid is not None:
                    return pid
            return e.person_id

        return owner


def check_request_id(request_id: str) -> None:
    if not request_id.strip():
        raise InvalidArgument("request_id", "required")
    if len(request_id.encode()) > MAX_EVENT_ID_BYTES:
        raise InvalidArgument("request_id", f"longer than {MAX_EVENT_ID_BYTES} bytes")
